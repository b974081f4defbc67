package server_test

import (
	"errors"
	"net/http"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/server"
)

// The principals of the permission tests, by bearer token. Each is a
// role of docs/api.md, in the tenants acme and globex.
var principals = map[string]*activitylog.Principal{
	"root":        {ID: "root", Permissions: []activitylog.Permission{activitylog.Superuser}},
	"acme-viewer": {ID: "ann", Tenant: "acme", Permissions: []activitylog.Permission{activitylog.ViewLogs}},
	"acme-admin":  {ID: "amy", Tenant: "acme", Permissions: []activitylog.Permission{activitylog.ViewAllLogs, activitylog.ResolveEvents}},
	"acme-ingest": {ID: "key-acme", Tenant: "acme", Permissions: []activitylog.Permission{activitylog.Ingest}},
	"acme-retain": {ID: "rita", Tenant: "acme", Permissions: []activitylog.Permission{activitylog.ManageRetention}},
	"globex-all":  {ID: "gus", Tenant: "globex", Permissions: []activitylog.Permission{activitylog.ViewAllLogs, activitylog.ResolveEvents, activitylog.Ingest}},
	"notenant":    {ID: "nel", Permissions: []activitylog.Permission{activitylog.ViewAllLogs}},
}

// testAuth is the tests' Authenticator, a host's own func as
// server.Options.Authenticate takes it: a request without an
// Authorization header is the superuser root, so that tests about
// other things need none; "Bearer none" carries no credentials.
func testAuth(r *http.Request) (*activitylog.Principal, error) {
	if r.Header.Get("Authorization") == "" {
		return principals["root"], nil
	}
	tok := server.BearerToken(r)
	if tok == "none" {
		return nil, nil
	}
	if p, ok := principals[tok]; ok {
		return p, nil
	}
	return nil, errors.New("unknown bearer token")
}
