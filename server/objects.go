package server

import (
	"net/http"
	"strconv"

	"github.com/activitylog/activitylog"
)

// objectEvents handles GET /api/v1/objects/{type}/{id}/events: one
// object's history, everything that ever happened to it, newest first
// unless ordering says otherwise. It takes the parameters of
// GET /api/v1/events and answers in the same shape; object_type and
// object_id come from the path, and a query parameter that names
// another object is refused, as a path segment that is not UTF-8.
func (s *server) objectEvents(w http.ResponseWriter, r *http.Request) {
	typ, id := r.PathValue("type"), r.PathValue("id")
	v := r.URL.Query()
	f, err := ParseFilter(v)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, p := range [...]struct{ name, query, path string }{
		{"object_type", f.ObjectType, typ},
		{"object_id", f.ObjectID, id},
	} {
		if p.path == "" { // ServeMux matches no empty segment; this is a backstop
			s.fail(w, r, activitylog.Invalid(p.name, "", "is required in the path"))
			return
		}
		if err := checkUTF8(p.name, p.path); err != nil { // a %ff in the path arrives as the byte
			s.fail(w, r, err)
			return
		}
		if p.query != "" && p.query != p.path {
			s.fail(w, r, activitylog.Invalid(p.name, clip(p.query),
				"conflicts with the path, which names "+strconv.Quote(clip(p.path))+"; leave it out"))
			return
		}
	}
	f.ObjectType, f.ObjectID = typ, id
	s.writeList(w, r, v, f)
}
