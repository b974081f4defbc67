package access_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/activitylog/activitylog/server"
)

// TestRoutesDocumented: every route the Service adds is in the API's
// OpenAPI document, with the permission it really needs. (The server's
// own test cannot import this package, and documents these routes from
// their patterns alone.)
func TestRoutesDocumented(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Permission string `json:"x-permission"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(server.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, nil)
	routes := e.svc.Routes()
	if len(routes) == 0 {
		t.Fatal("the Service adds no routes")
	}
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		op, ok := doc.Paths[path][strings.ToLower(method)]
		if !ok {
			t.Errorf("%s is not in server/openapi.json", rt.Pattern)
			continue
		}
		want := string(rt.Need)
		switch rt.Need {
		case server.Public:
			want = "public"
		case server.SignedIn:
			want = "signed_in"
		}
		if op.Permission != want {
			t.Errorf("%s: documented x-permission %q, the route needs %q", rt.Pattern, op.Permission, want)
		}
	}
}
