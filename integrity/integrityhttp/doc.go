// Package integrityhttp is the HTTP face of package integrity: the
// routes that publish the checkpoint keys, verify the stored trail and
// hand out RFC 6962 proofs, and the per-event seal status that the
// API's list and detail answers carry. It plugs into package server as
// package access does:
//
//	svc, err := integrityhttp.New(store, &integrityhttp.Options{
//		PublicKeys: []ed25519.PublicKey{pub}, // trusted checkpoint keys, published
//		HMACKeys:   []*integrity.HMACKey{mac}, // keyed chains; nil: keyless
//	})
//	h := server.New(store, rec, &server.Options{
//		Routes:     svc.Routes(),                 // /api/v1/integrity/…, /api/v1/events/{id}/proof
//		Annotators: []server.Annotator{svc},      // "integrity" on every event answered
//	})
//
// # Routes
//
//	GET /api/v1/integrity/public-key     public: the trusted Ed25519 keys (key id, PEM)
//	GET /api/v1/integrity/verify         superuser, or view_all_logs without a tenant:
//	                                     the Verifier's report, one run at a time
//	GET /api/v1/integrity/consistency    view_logs: consistency proof between two checkpoints
//	GET /api/v1/events/{id}/proof        view_logs and the event visible: inclusion proof
//
// # Per-event status
//
// Service.Annotate gives each event answered a member "integrity":
//
//	{"status": "checkpointed", "chain": "0190…", "seq": 12, "hash": "9f…", "checkpoint": 20}
//
// with status unsealed, modified, unchecked, sealed or checkpointed.
// It checks the event's own hash only (its stored bytes against its
// stored seal), not the links between events nor the trees: that is
// what GET /api/v1/integrity/verify does. docs/api.md says exactly what
// each status proves.
package integrityhttp
