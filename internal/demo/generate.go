package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

var userAgents = []string{
	"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
	"curl/8.8.0",
	"shop-mobile/2.3.1 (Android 14)",
}

// demoCard is a test card number: it passes the Luhn check, so the
// Recorder masks it wherever it appears.
const demoCard = "4111 1111 1111 1111"

// Generate drives the shop at baseURL (where Handler is mounted, e.g.
// "http://127.0.0.1:8080/demo") with one request every period, until
// ctx ends. The first requests walk through the whole shop (a login, a
// browse, an order and its update, an export, a failing sync), so that
// every kind of event appears at once; after that it picks at random
// among users, anonymous visitors, browsers and actions, with some
// failed logins, unknown products and conflicting updates among them.
// Failed requests are logged at debug level and otherwise ignored.
func Generate(ctx context.Context, baseURL string, every time.Duration) {
	if every <= 0 {
		every = 200 * time.Millisecond
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	g := &generator{
		base:   strings.TrimSuffix(baseURL, "/"),
		client: &http.Client{Transport: tr, Timeout: 5 * time.Second},
		rnd:    rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x5eed)),
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for step := 0; ; step++ {
		g.step(ctx, step)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

type generator struct {
	base   string
	client *http.Client
	rnd    *rand.Rand
	orders []string // ids of orders the generator created, the newest last
}

// script is the walk through the shop that starts every run.
var script = []func(g *generator, ctx context.Context){
	func(g *generator, ctx context.Context) { g.login(ctx, "alice", true) },
	func(g *generator, ctx context.Context) { g.do(ctx, "alice", "GET", "/products", nil) },
	func(g *generator, ctx context.Context) { g.order(ctx, "alice") },
	func(g *generator, ctx context.Context) { g.update(ctx, "alice", "paid") },
	func(g *generator, ctx context.Context) { g.login(ctx, "bob", false) },
	func(g *generator, ctx context.Context) { g.do(ctx, "carol", "GET", "/export", nil) },
	func(g *generator, ctx context.Context) { g.sync(ctx, 3) },
}

// actions are picked at random after the script, by weight.
var actions = []struct {
	weight int
	do     func(g *generator, ctx context.Context, user string)
}{
	{20, func(g *generator, ctx context.Context, user string) { g.do(ctx, user, "GET", "/products", nil) }},
	{14, func(g *generator, ctx context.Context, user string) {
		id := products[g.rnd.IntN(len(products))].ID
		if g.rnd.IntN(8) == 0 {
			id = "p-404"
		}
		g.do(ctx, user, "GET", "/products/"+id, nil)
	}},
	{14, func(g *generator, ctx context.Context, user string) { g.order(ctx, user) }},
	{8, func(g *generator, ctx context.Context, user string) {
		if id := g.someOrder(); id != "" {
			g.do(ctx, user, "GET", "/orders/"+id, nil)
		}
	}},
	{10, func(g *generator, ctx context.Context, user string) {
		g.update(ctx, user, []string{"paid", "shipped", "delivered", "cancelled"}[g.rnd.IntN(4)])
	}},
	{2, func(g *generator, ctx context.Context, user string) {
		if id := g.someOrder(); id != "" {
			g.do(ctx, user, "DELETE", "/orders/"+id, nil)
		}
	}},
	{9, func(g *generator, ctx context.Context, user string) {
		if user == "" {
			user = userNames[g.rnd.IntN(len(userNames))]
		}
		g.login(ctx, user, g.rnd.IntN(5) > 0)
	}},
	{3, func(g *generator, ctx context.Context, user string) { g.do(ctx, user, "POST", "/logout", nil) }},
	{4, func(g *generator, ctx context.Context, user string) { g.do(ctx, user, "GET", "/export", nil) }},
	{4, func(g *generator, ctx context.Context, user string) { g.sync(ctx, 1) }},
	{2, func(g *generator, ctx context.Context, user string) { g.do(ctx, user, "GET", "/no-such-page", nil) }},
	// Cross-origin calls: from the partner (allowed), a preflight, and
	// from an origin the shop does not allow.
	{3, func(g *generator, ctx context.Context, user string) {
		g.send(ctx, user, "GET", "/products", nil, map[string]string{"Origin": PartnerOrigin, "Referer": PartnerOrigin + "/shop"})
	}},
	{1, func(g *generator, ctx context.Context, user string) {
		g.send(ctx, "", "OPTIONS", "/orders", nil, map[string]string{"Origin": PartnerOrigin, "Access-Control-Request-Method": "POST"})
	}},
	{1, func(g *generator, ctx context.Context, user string) {
		g.send(ctx, "", "GET", "/products", nil, map[string]string{"Origin": "https://evil.example"})
	}},
	// A scanner now and then: probes and injections the middleware
	// records as security events.
	{2, func(g *generator, ctx context.Context, user string) {
		p := probes[g.rnd.IntN(len(probes))]
		g.send(ctx, "", "GET", p, nil, map[string]string{"User-Agent": "sqlmap/1.8#stable (https://sqlmap.org)"})
	}},
}

// probes are what scanners send.
var probes = []string{
	"/.env",
	"/.git/config",
	"/products?q=1%27%20OR%20%271%27%3D%271",
	"/products?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
	"/export?file=..%2F..%2F..%2Fetc%2Fpasswd",
}

func (g *generator) step(ctx context.Context, n int) {
	if n < len(script) {
		script[n](g, ctx)
		return
	}
	total := 0
	for _, a := range actions {
		total += a.weight
	}
	pick := g.rnd.IntN(total)
	for _, a := range actions {
		if pick < a.weight {
			a.do(g, ctx, g.user())
			return
		}
		pick -= a.weight
	}
}

// user returns a demo user, now and then an unknown one, and in a
// fifth of the calls "" for an anonymous visitor.
func (g *generator) user() string {
	switch n := g.rnd.IntN(20); {
	case n < 4:
		return ""
	case n == 4:
		return "mallory"
	}
	return userNames[g.rnd.IntN(len(userNames))]
}

func (g *generator) someOrder() string {
	if len(g.orders) == 0 {
		return ""
	}
	return g.orders[g.rnd.IntN(len(g.orders))]
}

func (g *generator) login(ctx context.Context, user string, right bool) {
	pw := Password(user)
	if !right || pw == "" {
		pw = "guess" + pw
	}
	g.do(ctx, "", "POST", "/login", map[string]string{"username": user, "password": pw})
}

func (g *generator) order(ctx context.Context, user string) {
	body := map[string]any{
		"product_id":  products[g.rnd.IntN(len(products))].ID,
		"quantity":    1 + g.rnd.IntN(4),
		"card_number": demoCard,
	}
	var created struct {
		ID string `json:"id"`
	}
	if g.doInto(ctx, user, "POST", "/orders", body, &created) && created.ID != "" {
		g.orders = append(g.orders, created.ID)
		if len(g.orders) > 50 {
			g.orders = g.orders[1:]
		}
	}
}

func (g *generator) update(ctx context.Context, user, status string) {
	id := g.someOrder()
	if id == "" {
		return
	}
	if status == "paid" { // most likely to succeed on the newest order, still "new"
		id = g.orders[len(g.orders)-1]
	}
	g.do(ctx, user, "PATCH", "/orders/"+id, map[string]string{"status": status})
}

// sync calls the inventory sync n times; every third call fails.
func (g *generator) sync(ctx context.Context, n int) {
	for range n {
		g.do(ctx, "", "POST", "/inventory/sync", nil)
	}
}

func (g *generator) do(ctx context.Context, user, method, path string, body any) {
	g.doInto(ctx, user, method, path, body, nil)
}

// send is do with extra request headers.
func (g *generator) send(ctx context.Context, user, method, path string, body any, header map[string]string) {
	g.request(ctx, user, method, path, body, nil, header)
}

// doInto sends one request and decodes a 2xx JSON answer into out, when
// out is not nil. It reports whether the request got a 2xx answer.
func (g *generator) doInto(ctx context.Context, user, method, path string, body, out any) bool {
	return g.request(ctx, user, method, path, body, out, nil)
}

func (g *generator) request(ctx context.Context, user, method, path string, body, out any, header map[string]string) bool {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return false
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.base+path, rd)
	if err != nil {
		return false
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.Header.Set(UserHeader, user)
	}
	req.Header.Set("User-Agent", userAgents[g.rnd.IntN(len(userAgents))])
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			slog.DebugContext(ctx, "demo: request failed", "method", method, "path", path, "err", err)
		}
		return false
	}
	defer resp.Body.Close()
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if ok && out != nil {
		json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return ok
}
