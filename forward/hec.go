package forward

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
)

// HECOptions configures an HEC writer. The zero value, or nil, means
// the defaults written beside each field.
type HECOptions struct {
	// Index is the Splunk index of every event. Default: none, so the
	// token's default index.
	Index string
	// Host is the "host" of every event. Default: os.Hostname().
	Host string
	// Source is the "source" of every event. Default: "activitylog".
	// The sourcetype is always "activitylog:<kind>".
	Source string
	// Channel is the HEC channel, a GUID sent as the
	// X-Splunk-Request-Channel header. Default: none, which a token
	// with indexer acknowledgement enabled refuses.
	Channel string
	// Ack, with a Channel, waits after each request until the indexers
	// acknowledge the events as indexed (the token must have indexer
	// acknowledgement enabled), polling /services/collector/ack every
	// AckInterval within Timeout. Default: false: a 200 means the
	// events were received, not yet indexed.
	Ack bool
	// AckInterval is the pause between acknowledgement polls. Default:
	// 500ms.
	AckInterval time.Duration
	// Timeout bounds one request, acknowledgement included. Default:
	// 10s.
	Timeout time.Duration
	// Client sends the requests. Default: a client of its own with
	// http.DefaultTransport.
	Client *http.Client
	// MaxBatchBytes bounds one request body: a larger batch is sent in
	// several requests, in order. An event larger than this alone is
	// sent alone. Default: 1,000,000 (Splunk's smallest
	// max_content_length).
	MaxBatchBytes int
}

// HEC is a Writer that sends batches to a Splunk HTTP Event Collector.
// It is safe for concurrent use.
type HEC struct {
	url, ackURL string
	token       string
	auth        string
	prefix      []byte // `{"time":`
	mid         []byte // `,"host":…,"source":…,"sourcetype":"activitylog:`
	opts        HECOptions
}

var _ activitylog.Writer = (*HEC)(nil)

// NewHEC returns a Writer that posts to the HEC at rawURL, the
// collector's base URL (https://splunk.example.com:8088) or its full
// event endpoint (…/services/collector/event), authenticating with
// token. opts may be nil. The token never appears in errors.
func NewHEC(rawURL, token string, opts *HECOptions) (*HEC, error) {
	var o HECOptions
	if opts != nil {
		o = *opts
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, activitylog.Invalid("url", redactedURL(u, rawURL), "must be an http or https URL")
	}
	if token == "" {
		return nil, activitylog.Invalid("token", "", "is required")
	}
	if o.Ack && o.Channel == "" {
		return nil, activitylog.Invalid("channel", "", "is required when ack is set")
	}
	if o.Timeout < 0 {
		return nil, activitylog.Invalid("timeout", o.Timeout.String(), "must not be negative")
	}
	if o.MaxBatchBytes < 0 {
		return nil, activitylog.Invalid("max_batch_bytes", strconv.Itoa(o.MaxBatchBytes), "must not be negative")
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.AckInterval <= 0 {
		o.AckInterval = 500 * time.Millisecond
	}
	if o.MaxBatchBytes == 0 {
		o.MaxBatchBytes = 1_000_000
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Source == "" {
		o.Source = "activitylog"
	}
	if o.Host == "" {
		o.Host, _ = os.Hostname()
	}
	base := strings.TrimSuffix(u.Path, "/")
	base = strings.TrimSuffix(base, "/services/collector/event")
	base = strings.TrimSuffix(base, "/services/collector")
	ev, ack := *u, *u
	ev.Path = base + "/services/collector/event"
	ack.Path = base + "/services/collector/ack"
	h := &HEC{url: ev.String(), ackURL: ack.String(), token: token, auth: "Splunk " + token, opts: o}
	h.prefix = []byte(`{"time":`)
	mid := []byte(`,"host":`)
	mid = append(mid, jsonString(o.Host)...)
	mid = append(mid, `,"source":`...)
	mid = append(mid, jsonString(o.Source)...)
	if o.Index != "" {
		mid = append(mid, `,"index":`...)
		mid = append(mid, jsonString(o.Index)...)
	}
	mid = append(mid, `,"sourcetype":"activitylog:`...)
	h.mid = mid
	return h, nil
}

// redactedURL shows a URL in an error without its password.
func redactedURL(u *url.URL, raw string) string {
	if u == nil {
		return clip(raw, 64)
	}
	return u.Redacted()
}

// AppendEvent appends e in HEC's event form to b:
//
//	{"time":<seconds.micros>,"host":…,"source":…,"index":…,"sourcetype":"activitylog:<kind>","event":<e as JSON>}
//
// followed by a newline.
func (h *HEC) AppendEvent(b []byte, e *activitylog.Event) ([]byte, error) {
	doc, err := json.Marshal(e)
	if err != nil {
		return b, fmt.Errorf("encode event %s: %w", e.ID, err)
	}
	b = append(b, h.prefix...)
	b = appendEpoch(b, e.Time)
	b = append(b, h.mid...)
	b = appendJSONInner(b, string(e.Kind))
	b = append(b, `","event":`...)
	b = append(b, doc...)
	return append(b, "}\n"...), nil
}

// appendEpoch appends t as seconds since the epoch with six decimals.
func appendEpoch(b []byte, t time.Time) []byte {
	us := t.UnixMicro()
	sec, frac := us/1e6, us%1e6
	if frac < 0 {
		sec, frac = sec-1, frac+1e6
	}
	b = strconv.AppendInt(b, sec, 10)
	b = append(b, '.')
	var tmp [8]byte
	f := strconv.AppendInt(tmp[:0], frac+1e6, 10)
	return append(b, f[1:]...)
}

// appendJSONInner appends s JSON-escaped, without the quotes.
func appendJSONInner(b []byte, s string) []byte {
	plain := true
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	if plain {
		return append(b, s...)
	}
	q := jsonString(s)
	return append(b, q[1:len(q)-1]...)
}

// Write sends events in one request, or several when they exceed
// MaxBatchBytes. It is at-least-once, not all-or-nothing: HEC has no
// transaction and no dedup, so when a later request of a split batch
// fails, or a response is lost, the caller's retry sends again what
// was already received. Each event carries its id ("event.id") for the
// search to dedup on.
func (h *HEC) Write(ctx context.Context, events []activitylog.Event) error {
	if len(events) == 0 {
		return nil
	}
	buf := make([]byte, 0, min(h.opts.MaxBatchBytes, 64<<10))
	sent := 0
	for i := range events {
		n := len(buf)
		var err error
		buf, err = h.AppendEvent(buf, &events[i])
		if err != nil {
			return fmt.Errorf("write hec batch: %w", err)
		}
		if len(buf) > h.opts.MaxBatchBytes && n > 0 {
			if err := h.send(ctx, buf[:n], sent, i); err != nil {
				return err
			}
			sent = i
			buf = append(buf[:0], buf[n:]...)
		}
	}
	return h.send(ctx, buf, sent, len(events))
}

// hecResponse is HEC's answer: {"text":"Success","code":0,"ackId":7}.
type hecResponse struct {
	Text  string `json:"text"`
	Code  *int   `json:"code"`
	AckID *int64 `json:"ackId"`
}

func (h *HEC) send(ctx context.Context, body []byte, from, to int) error {
	what := "hec events " + strconv.Itoa(from) + "-" + strconv.Itoa(to-1)
	hdr := http.Header{"Authorization": {h.auth}}
	if h.opts.Channel != "" {
		hdr.Set("X-Splunk-Request-Channel", h.opts.Channel)
	}
	b, err := post(ctx, h.opts.Client, h.opts.Timeout, h.url, "application/json", hdr, body, what, []string{h.token}, describeHEC)
	if err != nil {
		return err
	}
	if !h.opts.Ack {
		return nil
	}
	var r hecResponse
	if err := json.Unmarshal(b, &r); err != nil || r.AckID == nil {
		return scrub(fmt.Errorf("post %s: no ackId in the response %q: is indexer acknowledgement enabled on the token?", what, clip(string(b), 200)), []string{h.token})
	}
	ctx, cancel := context.WithTimeoutCause(ctx, h.opts.Timeout, errTimeout)
	defer cancel()
	return h.waitAck(ctx, *r.AckID, what, hdr)
}

// waitAck polls the ack endpoint until ackID is acknowledged.
func (h *HEC) waitAck(ctx context.Context, ackID int64, what string, hdr http.Header) error {
	body := []byte(`{"acks":[` + strconv.FormatInt(ackID, 10) + `]}`)
	key := strconv.FormatInt(ackID, 10)
	for {
		b, err := post(ctx, h.opts.Client, h.opts.Timeout, h.ackURL, "application/json", hdr, body, "hec ack for "+what, []string{h.token}, describeHEC)
		if err != nil {
			return err
		}
		var r struct {
			Acks map[string]bool `json:"acks"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("read hec ack for %s: %w", what, err)
		}
		if r.Acks[key] {
			return nil
		}
		t := time.NewTimer(h.opts.AckInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			if callerGaveUp(ctx) {
				return fmt.Errorf("wait hec ack %d for %s: %w", ackID, what, ctx.Err())
			}
			return fmt.Errorf("wait hec ack %d for %s: %w: not acknowledged within %s", ackID, what, activitylog.ErrUnavailable, h.opts.Timeout)
		case <-t.C:
		}
	}
}

// describeHEC turns HEC's error body into "text (code n)".
func describeHEC(status int, body []byte) string {
	var r hecResponse
	if json.Unmarshal(body, &r) == nil && r.Text != "" {
		if r.Code != nil {
			return r.Text + " (code " + strconv.Itoa(*r.Code) + ")"
		}
		return r.Text
	}
	return clip(string(body), 200)
}
