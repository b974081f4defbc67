package server

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"
)

// openapiJSON is the OpenAPI 3.1 document of the API: every route, its
// parameters, bodies, answers and the permission it needs.
// openapi_test.go generates it from the specification written there,
// and fails when the file is stale or when a route is registered but
// not documented (or documented but not registered). After changing
// that specification, rewrite the file with
//
//	go test ./server -run TestOpenAPIDocumentIsCurrent -update-openapi
//
//go:embed openapi.json
var openapiJSON []byte

// openapiETag is the strong ETag of openapiJSON, so that clients can
// revalidate their copy.
var openapiETag = func() string {
	sum := sha256.Sum256(openapiJSON)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}()

// OpenAPI returns a copy of the OpenAPI 3.1 document the API serves at
// /api/v1/openapi.json, so that packages adding routes (access) can test
// that the document describes them.
func OpenAPI() []byte { return bytes.Clone(openapiJSON) }

// openapiRoutes registers GET /api/v1/openapi.json, which needs no
// authentication: the document describes the API, never its data.
func (s *server) openapiRoutes() {
	s.handle("GET /api/v1/openapi.json", Public, s.openapi)
}

// openapi serves the embedded document as it is, byte for byte.
func (s *server) openapi(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", openapiETag)
	http.ServeContent(w, r, "openapi.json", time.Time{}, bytes.NewReader(openapiJSON))
}
