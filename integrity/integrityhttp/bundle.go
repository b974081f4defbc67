package integrityhttp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
)

// bundleParams are the parameters of GET /api/v1/integrity/bundle.
var bundleParams = []string{"chain", "kind", "from", "to"}

// bundleAuditTimeout bounds the recording of a bundle download.
const bundleAuditTimeout = 5 * time.Second

// byteCounter counts what goes through to the response.
type byteCounter struct {
	w http.ResponseWriter
	n int64
}

func (c *byteCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// bundle handles GET /api/v1/integrity/bundle: the offline bundle that
// activitylog export --with-proofs writes (integrity.WriteBundle), as a
// download. Like verification it reads the whole trail, across
// tenants, and one runs at a time. A bundle that fails after its first
// bytes are sent is cut short: its gzip stream has no end, so the
// bundle's reader refuses it, and the X-Export-Status trailer says
// truncated. Each download is recorded (Options.Audit).
func (s *Service) bundle(w http.ResponseWriter, r *http.Request) {
	if !wholeTrail(w, r, "an offline bundle") {
		return
	}
	opts, err := s.selection(r, "/api/v1/integrity/bundle", bundleParams)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	select {
	case s.exports <- struct{}{}:
		defer func() { <-s.exports }()
	default:
		s.fail(w, r, &busy{msg: "another offline bundle is being written; only one is at a time: retry later", after: 5})
		return
	}
	ctx := r.Context()
	now := s.now().UTC()
	h := w.Header()
	h.Set("Content-Type", "application/gzip")
	h.Set("Content-Disposition", `attachment; filename="activitylog-bundle-`+now.Format("20060102T150405Z")+`.ndjson.gz"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Trailer", "X-Export-Status")
	cw := &byteCounter{w: w}
	st, err := integrity.WriteBundle(ctx, s.store, cw, &integrity.ExportOptions{
		Chains: opts.Chains, Kinds: opts.Kinds, From: opts.From, To: opts.To,
		PublicKeys: s.pubList, Now: func() time.Time { return now },
	})
	switch {
	case err != nil && cw.n == 0:
		// Nothing is sent: the status can still tell.
		h.Del("Content-Type")
		h.Del("Content-Disposition")
		h.Del("Trailer")
		switch {
		case errors.Is(err, integrity.ErrNoSuchChain):
			err = activitylog.Invalid("chain", clip(r.URL.Query().Get("chain")), err.Error())
		}
		s.fail(w, r, err)
	case err != nil:
		h.Set("X-Export-Status", "truncated")
		s.log.ErrorContext(ctx, "activitylog integrity: bundle ended early", "bytes", cw.n, "err", err)
	default:
		h.Set("X-Export-Status", "complete")
	}
	if s.audit != nil {
		e := bundleAuditEvent(r.URL.Query(), st, cw.n, err)
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bundleAuditTimeout)
		defer cancel()
		if aerr := s.audit.Record(actx, e); aerr != nil {
			s.log.ErrorContext(ctx, "activitylog integrity: record bundle download", "err", aerr)
		}
	}
}

// bundleAuditEvent is the export event that records a bundle download,
// in the shape of the server's export events.
func bundleAuditEvent(filters url.Values, st *integrity.ExportStats, bytes int64, err error) activitylog.Event {
	fm := map[string]any{}
	for name, vs := range filters {
		if len(vs) > 0 && vs[0] != "" {
			fm[name] = vs[0]
		}
	}
	var records int64
	if st != nil {
		records = int64(st.Events + st.Unsealed)
	}
	e := activitylog.Event{
		Kind:     activitylog.KindExport,
		Action:   activitylog.ActionExport,
		Severity: activitylog.SeverityInfo,
		Object:   activitylog.Object{Type: "events"},
		Extra: map[string]any{
			"format":      "integrity_bundle",
			"records":     records,
			"bytes":       bytes,
			"filters":     fm,
			"destination": "download",
		},
	}
	if st != nil {
		e.Extra["chains"], e.Extra["checkpoints"], e.Extra["proofs"] = st.Chains, st.Checkpoints, st.Proofs
	}
	e.Message = "exported " + strconv.FormatInt(records, 10) + " events as an offline integrity bundle (" + strconv.FormatInt(bytes, 10) + " bytes) to download"
	if err != nil {
		msg := err.Error()
		if len(msg) > 1024 {
			msg = msg[:1024]
		}
		e.Action, e.Severity = activitylog.ActionExportFailed, activitylog.SeverityError
		e.Extra["error"] = msg
		e.Message = fmt.Sprintf("offline integrity bundle failed after %d events (%d bytes): %s", records, bytes, msg)
	}
	return e
}
