package integrityhttp_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/activitylog/activitylog/server"
)

// The routes of this package are documented in the server's OpenAPI
// document (server/openapi_integrity_test.go writes them); these tests
// hold the live handlers to it, which the server's own tests cannot,
// since this package imports server.

type oaDoc struct {
	raw   any
	paths map[string]map[string]struct {
		Permission string `json:"x-permission"`
		Parameters []struct {
			Ref     string          `json:"$ref"`
			Name    string          `json:"name"`
			In      string          `json:"in"`
			Example json.RawMessage `json:"example"`
		} `json:"parameters"`
	}
	c *jsonschema.Compiler
}

func loadDoc(t *testing.T) *oaDoc {
	t.Helper()
	var d oaDoc
	var doc struct {
		Paths json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(server.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(doc.Paths, &d.paths); err != nil {
		t.Fatal(err)
	}
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(server.OpenAPI()))
	if err != nil {
		t.Fatal(err)
	}
	d.raw = raw
	d.c = jsonschema.NewCompiler()
	d.c.DefaultDraft(jsonschema.Draft2020)
	d.c.AssertFormat()
	if err := d.c.AddResource("openapi.json", raw); err != nil {
		t.Fatal(err)
	}
	return &d
}

func esc(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1") }

// at returns the value at JSON pointer ptr of the document.
func (d *oaDoc) at(ptr string) any {
	v := d.raw
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, _ := v.(map[string]any)
		v = m[tok]
	}
	return v
}

// check validates the JSON body of an answer with status code to GET
// path (an OpenAPI path) against the schema the document gives it.
func (d *oaDoc) check(path string, code int, body []byte) error {
	ptr := "/paths/" + esc(path) + "/get/responses/"
	resps, _ := d.at(ptr[:len(ptr)-1]).(map[string]any)
	c := strconv.Itoa(code)
	if resps[c] == nil {
		c = "default"
	}
	ptr += c
	if ref, ok := d.at(ptr + "/$ref").(string); ok {
		ptr = strings.TrimPrefix(ref, "#")
	}
	ptr += "/content/application~1json/schema"
	if d.at(ptr) == nil {
		return fmt.Errorf("GET %s: no JSON schema for %d", path, code)
	}
	sch, err := d.c.Compile("openapi.json#" + ptr)
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return err
	}
	return sch.Validate(v)
}

// Every route is in the document with the permission it needs.
func TestOpenAPIRoutes(t *testing.T) {
	d := loadDoc(t)
	e := newEnv(t, nil)
	for _, rt := range e.svc.Routes() {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		op, ok := d.paths[path][strings.ToLower(method)]
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

// Each route takes exactly its documented query parameters: each, with
// its example, is not refused; any other is refused with a 400 naming
// it.
func TestOpenAPIParameters(t *testing.T) {
	d := loadDoc(t)
	e := newEnv(t, nil)
	candidates := []string{"chain", "kind", "from", "to", "max_findings", "checkpoint", "page_size", "date_from", "colour", "format"}
	n := 0
	for _, rt := range e.svc.Routes() {
		_, path, _ := strings.Cut(rt.Pattern, " ")
		op := d.paths[path]["get"]
		urlPath := strings.ReplaceAll(path, "{id}", e.a[0].ID.String())
		examples := map[string]string{}
		for _, p := range op.Parameters {
			if p.Ref != "" || p.In != "query" {
				continue
			}
			var v any
			json.Unmarshal(p.Example, &v)
			examples[p.Name] = fmt.Sprint(v)
		}
		for _, name := range candidates {
			value, documented := examples[name]
			if !documented {
				value = "x"
			}
			if name == "chain" && documented {
				value = e.chainA
			}
			w := e.get(t, urlPath+"?"+name+"="+url.QueryEscape(value), "root")
			var body apiErr
			json.Unmarshal(w.Body.Bytes(), &body)
			refused := w.Code == 400 && body.Error.Field == name
			switch {
			case documented && refused:
				t.Errorf("GET %s: the documented %s=%s is refused: %s", path, name, value, w.Body)
			case !documented && !refused:
				t.Errorf("GET %s: %s=%s is not documented, yet answered %d: %s", path, name, value, w.Code, w.Body)
			}
			n++
		}
	}
	if n < 30 {
		t.Errorf("probed %d parameters", n)
	}
}

// What the handlers answer is what the document says, including the
// list and detail answers with the integrity member.
func TestOpenAPIResponses(t *testing.T) {
	d := loadDoc(t)
	e := newEnv(t, nil)
	e.editMessage(t, e.chainA, 4)
	calls := []struct {
		path, url, token string
		want             int
	}{
		{"/api/v1/integrity/public-key", "/api/v1/integrity/public-key", "", 200},
		{"/api/v1/integrity/public-key", "/api/v1/integrity/public-key?x=1", "", 400},
		{"/api/v1/integrity/verify", "/api/v1/integrity/verify", "root", 200},
		{"/api/v1/integrity/verify", "/api/v1/integrity/verify?kind=crud&max_findings=1", "root", 200},
		{"/api/v1/integrity/verify", "/api/v1/integrity/verify?kind=nope", "root", 400},
		{"/api/v1/integrity/verify", "/api/v1/integrity/verify", "acme-admin", 403},
		{"/api/v1/integrity/verify", "/api/v1/integrity/verify", "", 401},
		{"/api/v1/integrity/consistency", "/api/v1/integrity/consistency?chain=" + e.chainA + "&from=10&to=30", "ann", 200},
		{"/api/v1/integrity/consistency", "/api/v1/integrity/consistency?chain=" + e.chainA + "&from=10&to=31", "ann", 404},
		{"/api/v1/integrity/consistency", "/api/v1/integrity/consistency?chain=" + e.chainA + "&from=10", "ann", 400},
		{"/api/v1/events/{id}/proof", "/api/v1/events/" + e.a[0].ID.String() + "/proof", "ann", 200},
		{"/api/v1/events/{id}/proof", "/api/v1/events/" + e.a[3].ID.String() + "/proof?checkpoint=10", "root", 200},
		{"/api/v1/events/{id}/proof", "/api/v1/events/" + e.a[1].ID.String() + "/proof", "ann", 404},
		{"/api/v1/events/{id}/proof", "/api/v1/events/" + e.un[0].ID.String() + "/proof", "root", 409},
		{"/api/v1/events/{id}/proof", "/api/v1/events/" + e.b[0].ID.String() + "/proof", "root", 409},
		{"/api/v1/events", "/api/v1/events?page_size=100", "root", 200},
		{"/api/v1/events/{id}", "/api/v1/events/" + e.a[3].ID.String(), "root", 200},
		{"/api/v1/events/{id}", "/api/v1/events/" + e.un[0].ID.String(), "root", 200},
		{"/api/v1/crud-events", "/api/v1/crud-events", "root", 200},
		{"/api/v1/crud-events/{id}", "/api/v1/crud-events/" + e.b[0].ID.String(), "root", 200},
	}
	if d.check("/api/v1/integrity/public-key", 200, []byte(`{"keys": [{"key_id": "x"}]}`)) == nil {
		t.Fatal("the check lets a wrong answer pass")
	}
	for _, c := range calls {
		w := e.get(t, c.url, c.token)
		if w.Code != c.want {
			t.Errorf("GET %s: %d, want %d: %s", c.url, w.Code, c.want, w.Body)
			continue
		}
		if err := d.check(c.path, w.Code, w.Body.Bytes()); err != nil {
			t.Errorf("GET %s: %d: the answer does not match the document: %v\n%.1500s", c.url, w.Code, err, w.Body)
		}
		if c.want == 200 && slices.Contains([]string{"/api/v1/events", "/api/v1/events/{id}", "/api/v1/crud-events", "/api/v1/crud-events/{id}"}, c.path) &&
			!strings.Contains(w.Body.String(), `"integrity":{"status":`) {
			t.Errorf("GET %s: no integrity member", c.url)
		}
	}
}
