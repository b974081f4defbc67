package forward

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
)

// ElasticOptions configures an ElasticBulk writer. The zero value, or
// nil, means the defaults written beside each field.
type ElasticOptions struct {
	// Index is the index, alias or data stream written to. Default:
	// "activitylog". A data stream needs an "@timestamp": set Pipeline
	// to an ingest pipeline that copies it from "time".
	Index string
	// Pipeline is the ingest pipeline run on every document (the
	// pipeline query parameter). Default: none.
	Pipeline string
	// APIKey is sent as "Authorization: ApiKey <APIKey>" (the base64
	// form Elasticsearch returns as "encoded"). Default: none.
	APIKey string
	// Username and Password are sent as HTTP basic authentication when
	// Username is set. Default: none (a user and password in the URL
	// work too).
	Username, Password string
	// Timeout bounds one request. Default: 10s.
	Timeout time.Duration
	// Client sends the requests. Default: a client of its own with
	// http.DefaultTransport.
	Client *http.Client
	// MaxBatchBytes bounds one request body: a larger batch is sent in
	// several requests, in order. Default: 5 MiB.
	MaxBatchBytes int
}

// ElasticBulk is a Writer that indexes batches into Elasticsearch or
// OpenSearch with the _bulk API. It is safe for concurrent use.
type ElasticBulk struct {
	url     string
	header  http.Header
	secrets []string
	action  []byte // `{"create":{"_index":"…","_id":"`
	opts    ElasticOptions
}

var _ activitylog.Writer = (*ElasticBulk)(nil)

// NewElasticBulk returns a Writer that posts to the _bulk API of the
// cluster at rawURL (http://127.0.0.1:9200). opts may be nil. The
// credentials never appear in errors.
func NewElasticBulk(rawURL string, opts *ElasticOptions) (*ElasticBulk, error) {
	var o ElasticOptions
	if opts != nil {
		o = *opts
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, activitylog.Invalid("url", redactedURL(u, rawURL), "must be an http or https URL")
	}
	if o.Timeout < 0 {
		return nil, activitylog.Invalid("timeout", o.Timeout.String(), "must not be negative")
	}
	if o.MaxBatchBytes < 0 {
		return nil, activitylog.Invalid("max_batch_bytes", strconv.Itoa(o.MaxBatchBytes), "must not be negative")
	}
	if o.Index == "" {
		o.Index = "activitylog"
	}
	if o.Index != strings.ToLower(o.Index) || strings.ContainsAny(o.Index, ` "*\<|,>/?#`) || strings.HasPrefix(o.Index, "_") {
		return nil, activitylog.Invalid("index", o.Index, "must be a lower-case index name without spaces or \\/*?\"<>|,#")
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxBatchBytes == 0 {
		o.MaxBatchBytes = 5 << 20
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	e := &ElasticBulk{opts: o, header: http.Header{}}
	if p, ok := u.User.Password(); ok {
		// The client sends these as basic authentication.
		e.secrets = append(e.secrets, p, base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+p)))
	}
	switch {
	case o.APIKey != "":
		e.header.Set("Authorization", "ApiKey "+o.APIKey)
		e.secrets = append(e.secrets, o.APIKey)
	case o.Username != "":
		basic := base64.StdEncoding.EncodeToString([]byte(o.Username + ":" + o.Password))
		e.header.Set("Authorization", "Basic "+basic)
		e.secrets = append(e.secrets, o.Password, basic)
	}
	bulk := *u
	bulk.Path = strings.TrimSuffix(u.Path, "/") + "/_bulk"
	q := url.Values{}
	if o.Pipeline != "" {
		q.Set("pipeline", o.Pipeline)
	}
	bulk.RawQuery = q.Encode()
	e.url = bulk.String()
	e.action = append([]byte(`{"create":{"_index":`), jsonString(o.Index)...)
	e.action = append(e.action, `,"_id":"`...)
	return e, nil
}

// AppendEvent appends e's two _bulk lines to b:
//
//	{"create":{"_index":"<index>","_id":"<event id>"}}
//	<e as JSON>
func (w *ElasticBulk) AppendEvent(b []byte, e *activitylog.Event) ([]byte, error) {
	doc, err := json.Marshal(e)
	if err != nil {
		return b, fmt.Errorf("encode event %s: %w", e.ID, err)
	}
	b = append(b, w.action...)
	b, _ = e.ID.AppendText(b)
	b = append(b, "\"}}\n"...)
	b = append(b, doc...)
	return append(b, '\n'), nil
}

// Write indexes events with one _bulk request, or several when they
// exceed MaxBatchBytes. Each event is a "create" with the event id as
// _id, so an event already indexed answers 409, which counts as
// stored. A bulk request is not atomic: when Write fails, some events
// may be indexed; the caller's retry creates the rest and gets 409 for
// those, so retries converge to each event indexed exactly once. Any
// item error other than 409 fails the batch with an error naming the
// item; it wraps activitylog.ErrUnavailable when every failed item was
// a 429 or 5xx.
func (w *ElasticBulk) Write(ctx context.Context, events []activitylog.Event) error {
	if len(events) == 0 {
		return nil
	}
	buf := make([]byte, 0, min(w.opts.MaxBatchBytes, 64<<10))
	sent := 0
	for i := range events {
		n := len(buf)
		var err error
		buf, err = w.AppendEvent(buf, &events[i])
		if err != nil {
			return fmt.Errorf("write bulk batch: %w", err)
		}
		if len(buf) > w.opts.MaxBatchBytes && n > 0 {
			if err := w.send(ctx, buf[:n], events[sent:i], sent); err != nil {
				return err
			}
			sent = i
			buf = append(buf[:0], buf[n:]...)
		}
	}
	return w.send(ctx, buf, events[sent:], sent)
}

// bulkResponse is the part of a _bulk answer that Write reads.
type bulkResponse struct {
	Errors bool                       `json:"errors"`
	Items  []map[string]bulkItemState `json:"items"`
}

type bulkItemState struct {
	ID     string `json:"_id"`
	Status int    `json:"status"`
	Error  *struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error"`
}

func (w *ElasticBulk) send(ctx context.Context, body []byte, events []activitylog.Event, offset int) error {
	what := "bulk items " + strconv.Itoa(offset) + "-" + strconv.Itoa(offset+len(events)-1)
	b, err := post(ctx, w.opts.Client, w.opts.Timeout, w.url, "application/x-ndjson", w.header, body, what, w.secrets, describeElastic)
	if err != nil {
		return err
	}
	var r bulkResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("read %s response: %w: %w", what, activitylog.ErrUnavailable, err)
	}
	if len(r.Items) != len(events) {
		return fmt.Errorf("read %s response: %d items for %d events: %w", what, len(r.Items), len(events), activitylog.ErrUnavailable)
	}
	if !r.Errors {
		return nil
	}
	var failed []string
	transient := true
	for i, item := range r.Items {
		var st bulkItemState
		for _, v := range item {
			st = v
		}
		if st.Status/100 == 2 || st.Status == http.StatusConflict {
			continue
		}
		if !retryable(st.Status) {
			transient = false
		}
		desc := "item " + strconv.Itoa(offset+i) + " (id " + events[i].ID.String() + "): status " + strconv.Itoa(st.Status)
		if st.Error != nil {
			desc += ": " + st.Error.Type + ": " + clip(st.Error.Reason, 200)
		}
		failed = append(failed, desc)
	}
	if len(failed) == 0 {
		return nil
	}
	msg := fmt.Sprintf("write %s: %d of %d failed: %s", what, len(failed), len(events), strings.Join(failed[:min(len(failed), 5)], "; "))
	if len(failed) > 5 {
		msg += "; …"
	}
	if transient {
		return scrub(fmt.Errorf("%s: %w", msg, activitylog.ErrUnavailable), w.secrets)
	}
	return scrub(errors.New(msg), w.secrets)
}

// describeElastic turns an Elasticsearch error body into "type: reason".
func describeElastic(status int, body []byte) string {
	var r struct {
		Error struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &r) == nil && r.Error.Type != "" {
		return r.Error.Type + ": " + clip(r.Error.Reason, 200)
	}
	return clip(string(body), 200)
}
