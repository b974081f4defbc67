package server

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/activitylog/activitylog"
)

// A kindResource is the list of one kind of event, as its own resource:
// GET /api/v1/<name> lists, GET /api/v1/<name>/export exports and
// GET /api/v1/<name>/{id} reads the events of that kind. It takes the
// parameters of GET /api/v1/events but kind, which it fixes, and but the
// field filters that belong to other kinds (fieldParams); it answers in
// the same shapes.
type kindResource struct {
	name   string           // the path segment, e.g. "request-events"
	kind   activitylog.Kind // the kind it lists
	fields []string         // the field filters it takes, of fieldParams
}

// fieldParams are the filters on fields that only some kinds fill. A
// per-kind resource takes those of them that its kind has (its
// fields); GET /api/v1/events takes all of them.
var fieldParams = []string{"method", "status", "status_gte", "status_lte", "origin", "object_type", "object_id", "severity", "category"}

// httpFields are the field filters of the kinds that are HTTP calls:
// incoming requests, cross-origin requests, outgoing calls.
var httpFields = []string{"method", "status", "status_gte", "status_lte", "origin"}

// kindResources are the per-kind resources, one per kind but custom.
var kindResources = []kindResource{
	{"crud-events", activitylog.KindCRUD, []string{"object_type", "object_id"}},
	{"login-events", activitylog.KindAuth, nil},
	{"request-events", activitylog.KindRequest, httpFields},
	{"cors-events", activitylog.KindCORS, httpFields},
	{"system-events", activitylog.KindSystem, []string{"severity", "category"}},
	{"export-events", activitylog.KindExport, nil},
	{"external-events", activitylog.KindExternal, httpFields},
}

// commonParams are the parameters every per-kind resource takes:
// FilterParams but kind and the field filters. action, tool, user_id,
// tenant, remote_ip, the dates, search, ordering and paging apply to
// every kind.
var commonParams = func() []string {
	var out []string
	for _, p := range FilterParams {
		if p != "kind" && !slices.Contains(fieldParams, p) {
			out = append(out, p)
		}
	}
	return out
}()

// kindRoutes registers the per-kind resources, with the permission of
// GET /api/v1/events. audit records their exports, as it does those of
// GET /api/v1/events/export.
func (s *server) kindRoutes(audit Auditor) {
	read := activitylog.ViewLogs
	export := s.exportHandler(audit)
	for i := range kindResources {
		res := &kindResources[i]
		base := "/api/v1/" + res.name
		s.handle("GET "+base, read, s.kindList(res))
		s.handle("GET "+base+"/export", read, s.kindExport(res, export))
		s.handle("GET "+base+"/{id}", read, s.kindGet(res))
	}
}

// path returns the resource's path, for messages.
func (res *kindResource) path() string { return "/api/v1/" + res.name }

// params returns the parameters the resource takes, in the order of
// FilterParams: those of its list, or those of its export (with format,
// without paging).
func (res *kindResource) params(export bool) []string {
	var out []string
	for _, p := range FilterParams {
		if (slices.Contains(commonParams, p) || slices.Contains(res.fields, p)) && !(export && slices.Contains(exportRefused, p)) {
			out = append(out, p)
		}
	}
	if export {
		out = append(out, "format")
	}
	return out
}

// check refuses, as a *activitylog.FieldError naming the parameter and
// its value, the first parameter of v (in name order, as ParseFilter
// goes) that the resource does not take: kind, which the resource
// fixes; a field filter of other kinds, saying which resources take it;
// and any other parameter it does not know. export says v is the query
// of the resource's export, which takes format too (and refuses paging
// itself). Values are ParseFilter's to check; the values of these
// errors show bytes that are not UTF-8 as Go escapes (showValue).
func (res *kindResource) check(v url.Values, export bool) error {
	names := make([]string, 0, len(v))
	for name := range v {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		first := ""
		if vs := v[name]; len(vs) > 0 {
			first = vs[0]
		}
		switch {
		case name == "kind":
			return activitylog.Invalid(name, showValue(first), "is fixed by the resource: "+res.path()+
				" lists "+string(res.kind)+" events only; for other kinds use their resource or /api/v1/events")
		case slices.Contains(commonParams, name), slices.Contains(res.fields, name), export && name == "format":
		case slices.Contains(fieldParams, name):
			return activitylog.Invalid(name, showValue(first), "is not a filter of "+res.path()+"; it is taken by "+takers(name))
		default:
			return activitylog.Invalid(paramField(name), showValue(first), "is not a known parameter of "+res.path()+
				"; known are "+strings.Join(res.params(export), ", "))
		}
	}
	return nil
}

// takers names the resources that take the field filter param.
func takers(param string) string {
	var out []string
	for i := range kindResources {
		if slices.Contains(kindResources[i].fields, param) {
			out = append(out, kindResources[i].path())
		}
	}
	return strings.Join(out, ", ") + " and /api/v1/events"
}

// kindList handles GET /api/v1/<res>: GET /api/v1/events with the kind
// fixed. The links keep the parameters as given, without kind, so that
// they lead on within the resource.
func (s *server) kindList(res *kindResource) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query()
		if err := res.check(v, false); err != nil {
			s.fail(w, r, err)
			return
		}
		f, err := ParseFilter(v)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		f.Kind = res.kind
		s.writeList(w, r, v, f) // scopes f to the principal
	}
}

// kindExport handles GET /api/v1/<res>/export: export, the handler of
// GET /api/v1/events/export, given a copy of the request with the kind
// added to its query, so that the export event records it among the
// filters.
func (s *server) kindExport(res *kindResource, export http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query()
		if err := res.check(v, true); err != nil {
			s.fail(w, r, err)
			return
		}
		v.Set("kind", string(res.kind))
		u := *r.URL
		u.RawQuery = v.Encode()
		r2 := new(http.Request)
		*r2 = *r
		r2.URL = &u
		export(w, r2) // scopes its filter to the principal
	}
}

// kindGet handles GET /api/v1/<res>/{id}: the event, when it is of the
// resource's kind and the principal may see it; 404 otherwise, and 400
// naming id for an id that is not a UUID.
func (s *server) kindGet(res *kindResource) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.getOfKind(w, r, res.kind)
	}
}
