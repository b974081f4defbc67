// Package demo is a small example shop instrumented with activitylog,
// and a traffic generator that drives it, so that someone trying
// `activitylog serve --demo` sees real events within seconds: one
// request event per call (from httpaudit.Middleware), and the data
// changes, logins and exports the shop records itself, with card
// numbers and passwords masked before they are stored.
//
// It is demo code: the data lives in memory, the "password check" is a
// map, and the caller names itself with the X-Demo-User header. Do not
// copy its authentication.
//
// # Routes
//
// Handler serves these, all under Prefix (/demo):
//
//	GET    /demo/                  the list of routes and users
//	GET    /demo/products          the catalogue
//	GET    /demo/products/{id}     one product (404 for an unknown id)
//	POST   /demo/orders            {"product_id","quantity","card_number"}: crud create of an order
//	GET    /demo/orders/{id}       crud read of an order
//	PATCH  /demo/orders/{id}       {"status"}: crud update, with the old and new status
//	DELETE /demo/orders/{id}       crud delete
//	POST   /demo/login             {"username","password"}: auth login or login_failed
//	POST   /demo/logout            auth logout
//	GET    /demo/export            export of every order as CSV
//	POST   /demo/inventory/sync    fails with 500 every third call, recording a system error
package demo

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/httpaudit"
	"github.com/activitylog/activitylog/useragent"
)

// Prefix is where Handler's routes live. Mount the handler there as it
// is, without http.StripPrefix, so that request events carry the full
// path and the route pattern:
//
//	mux.Handle(demo.Prefix+"/", demo.Handler(rec))
const Prefix = "/demo"

// Service is the service name on the shop's events.
const Service = "demo-shop"

// UserHeader names the demo user making a request: one of Users, or any
// other name for an unknown user. Demo only: a real service learns the
// actor from a session or a token.
const UserHeader = "X-Demo-User"

type user struct {
	actor    activitylog.Actor
	password string
}

// users are the shop's accounts, by user name.
var users = map[string]user{
	"alice": {activitylog.Actor{ID: "u-1001", Name: "alice", Email: "alice@example.com"}, "wonderland"},
	"bob":   {activitylog.Actor{ID: "u-1002", Name: "bob", Email: "bob@example.com"}, "builder"},
	"carol": {activitylog.Actor{ID: "u-1003", Name: "carol", Email: "carol@example.com"}, "singing"},
	"dave":  {activitylog.Actor{ID: "u-1004", Name: "dave", Email: "dave@example.com"}, "hal9000"},
}

var userNames = func() []string {
	names := make([]string, 0, len(users))
	for n := range users {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}()

// Users returns the demo user names, sorted.
func Users() []string { return slices.Clone(userNames) }

// Password returns the demo password of a user in Users.
func Password(name string) string { return users[name].password }

type product struct {
	ID    string  `json:"id"`
	Name  string  `json:"name"`
	Price float64 `json:"price"`
}

var products = []product{
	{"p-1", "Coffee mug", 12.99},
	{"p-2", "Notebook", 4.50},
	{"p-3", "Fountain pen", 39.00},
	{"p-4", "Desk lamp", 64.90},
	{"p-5", "Sticker pack", 2.99},
}

func findProduct(id string) (product, bool) {
	for _, p := range products {
		if p.ID == id {
			return p, true
		}
	}
	return product{}, false
}

type order struct {
	ID        string  `json:"id"`
	ProductID string  `json:"product_id"`
	Quantity  int     `json:"quantity"`
	Total     float64 `json:"total"`
	Status    string  `json:"status"`
	CardLast4 string  `json:"card_last4,omitempty"`
	Customer  string  `json:"customer,omitempty"`
}

// next lists the statuses an order may move to from each status.
var next = map[string][]string{
	"new":       {"paid", "cancelled"},
	"paid":      {"shipped", "cancelled"},
	"shipped":   {"delivered"},
	"delivered": {},
	"cancelled": {},
}

type shop struct {
	rec *activitylog.Recorder

	mu     sync.Mutex
	orders map[string]*order
	seq    int
	syncs  int // inventory sync calls, for the every-third failure
}

// Handler returns the shop, wrapped in httpaudit.Middleware so that
// every call is recorded as a request event, and recording its own
// crud, auth, export and system events with rec. Mount it at Prefix.
// It is safe for concurrent use.
func Handler(rec *activitylog.Recorder) http.Handler { return NewHandler(rec, nil) }

// Options configures NewHandler. The zero value is Handler's shop.
type Options struct {
	// FailClosed refuses a request (503) whose request event the
	// Recorder's queue cannot take, before the shop acts on it
	// (httpaudit.Options.FailClosed): serve sets it with on_full: fail.
	FailClosed bool
}

// NewHandler is Handler with options; o may be nil.
func NewHandler(rec *activitylog.Recorder, o *Options) http.Handler {
	if o == nil {
		o = &Options{}
	}
	s := &shop{rec: rec, orders: map[string]*order{}}
	mux := s.routes()
	// Orders and logins are recorded with their request bodies, which
	// shows the redaction of the card number and the password; the
	// export with its response body too.
	policy, err := httpaudit.NewPolicy(&httpaudit.PolicyOptions{Rules: []httpaudit.Rule{
		{Route: "POST " + Prefix + "/orders", Level: httpaudit.LevelRequest},
		{Route: "POST " + Prefix + "/login", Level: httpaudit.LevelRequest},
		{Route: "GET " + Prefix + "/export", Level: httpaudit.LevelRequestResponse},
	}})
	if err != nil {
		panic(err) // the rules above are constant
	}
	return httpaudit.Middleware(rec, &httpaudit.Options{
		Service: Service,
		// The route ("GET /demo/orders/{id}") is known as the request
		// arrives, so that the events the handlers record carry it too.
		Route:      func(r *http.Request) string { _, pattern := mux.Handler(r); return pattern },
		Client:     uaParser.Client,
		Policy:     policy,
		FailClosed: o.FailClosed,
	})(cors(mux))
}

// Unaudited is the same shop with no auditing at all: no middleware,
// and its handlers record nothing. It is the baseline the load tests and
// benchmarks measure the audited shop against.
func Unaudited() http.Handler {
	s := &shop{orders: map[string]*order{}}
	return cors(s.routes())
}

// routes is the shop's mux.
func (s *shop) routes() *http.ServeMux {
	mux := http.NewServeMux()
	route := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, withActor(h)) }
	route("GET "+Prefix+"/{$}", s.index)
	route("GET "+Prefix+"/products", s.listProducts)
	route("GET "+Prefix+"/products/{id}", s.getProduct)
	route("POST "+Prefix+"/orders", s.createOrder)
	route("GET "+Prefix+"/orders/{id}", s.getOrder)
	route("PATCH "+Prefix+"/orders/{id}", s.updateOrder)
	route("DELETE "+Prefix+"/orders/{id}", s.deleteOrder)
	route("POST "+Prefix+"/login", s.login)
	route("POST "+Prefix+"/logout", s.logout)
	route("GET "+Prefix+"/export", s.export)
	route("POST "+Prefix+"/inventory/sync", s.inventorySync)
	return mux
}

var uaParser = useragent.New(nil)

// cors answers the shop's one partner origin, as a shop that serves a
// separate front end would; the middleware records every cross-origin
// call as a cors event, allowed or not.
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") == PartnerOrigin {
			w.Header().Set("Access-Control-Allow-Origin", PartnerOrigin)
			if r.Method == http.MethodOptions {
				w.Header().Set("Access-Control-Allow-Methods", "GET, POST, PATCH")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// PartnerOrigin is the one origin the demo shop allows cross-origin.
const PartnerOrigin = "https://partner.example"

// withActor names the caller from the X-Demo-User header, both for the
// request event (httpaudit.SetActor) and for the events the handler
// records (activitylog.WithActor). Demo only.
func withActor(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.Header.Get(UserHeader)
		if name == "" || len(name) > 64 {
			h(w, r)
			return
		}
		a := activitylog.Actor{ID: name, Name: name}
		if u, ok := users[name]; ok {
			a = u.actor
		}
		httpaudit.SetActor(r.Context(), a)
		h(w, r.WithContext(activitylog.WithActor(r.Context(), a)))
	}
}

// record records e and logs a failure. A handler that must not act
// unaudited would record first, or take a slot with Recorder.Reserve,
// and refuse the request when that fails.
func (s *shop) record(ctx context.Context, e activitylog.Event) {
	if s.rec == nil {
		return // Unaudited
	}
	e.Service = Service
	if err := s.rec.Record(ctx, e); err != nil {
		slog.WarnContext(ctx, "demo: record event", "kind", e.Kind, "action", e.Action, "err", err)
	}
}

func (s *shop) index(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"about": "activitylog demo shop: every call is audited; see /api/v1/events",
		"users": Users(),
		"actor": "name yourself with the " + UserHeader + " header (demo only)",
		"routes": []string{
			"GET /demo/products", "GET /demo/products/{id}",
			"POST /demo/orders", "GET /demo/orders/{id}", "PATCH /demo/orders/{id}", "DELETE /demo/orders/{id}",
			"POST /demo/login", "POST /demo/logout", "GET /demo/export", "POST /demo/inventory/sync",
		},
	})
}

func (s *shop) listProducts(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, products)
}

func (s *shop) getProduct(w http.ResponseWriter, r *http.Request) {
	p, ok := findProduct(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "no product "+strconv.Quote(r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *shop) createOrder(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ProductID  string `json:"product_id"`
		Quantity   int    `json:"quantity"`
		CardNumber string `json:"card_number"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	p, ok := findProduct(in.ProductID)
	if !ok {
		writeError(w, http.StatusBadRequest, "product_id "+strconv.Quote(in.ProductID)+": no such product")
		return
	}
	if in.Quantity < 1 || in.Quantity > 99 {
		writeError(w, http.StatusBadRequest, "quantity "+strconv.Itoa(in.Quantity)+": must be between 1 and 99")
		return
	}
	o := &order{
		ProductID: p.ID,
		Quantity:  in.Quantity,
		Total:     math.Round(p.Price*float64(in.Quantity)*100) / 100,
		Status:    "new",
		CardLast4: last4(in.CardNumber),
		Customer:  activitylog.ActorFrom(r.Context()).ID,
	}
	s.mu.Lock()
	s.seq++
	o.ID = fmt.Sprintf("ord-%06d", s.seq)
	s.orders[o.ID] = o
	created := *o
	s.mu.Unlock()

	// The whole card number goes into the event on purpose: the
	// Recorder masks it (by its key, and as a card number in any
	// string) before it reaches the store.
	s.record(r.Context(), activitylog.Event{
		Kind:    activitylog.KindCRUD,
		Action:  "create",
		Message: "order " + created.ID + " created",
		Object:  activitylog.Object{Type: "order", ID: created.ID, Repr: fmt.Sprintf("%d × %s", created.Quantity, p.Name)},
		Changes: map[string]activitylog.Change{
			"status":      {Old: nil, New: created.Status},
			"product_id":  {Old: nil, New: created.ProductID},
			"quantity":    {Old: nil, New: created.Quantity},
			"total":       {Old: nil, New: created.Total},
			"card_number": {Old: nil, New: in.CardNumber},
		},
	})
	writeJSON(w, http.StatusCreated, created)
}

func (s *shop) lookup(w http.ResponseWriter, id string) (order, bool) {
	s.mu.Lock()
	o, ok := s.orders[id]
	var c order
	if ok {
		c = *o
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "no order "+strconv.Quote(id))
	}
	return c, ok
}

func (s *shop) getOrder(w http.ResponseWriter, r *http.Request) {
	o, ok := s.lookup(w, r.PathValue("id"))
	if !ok {
		return
	}
	s.record(r.Context(), activitylog.Event{
		Kind:   activitylog.KindCRUD,
		Action: "read",
		Object: activitylog.Object{Type: "order", ID: o.ID},
	})
	writeJSON(w, http.StatusOK, o)
}

func (s *shop) updateOrder(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Status string `json:"status"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if _, known := next[in.Status]; !known {
		writeError(w, http.StatusBadRequest, "status "+strconv.Quote(in.Status)+": must be one of new, paid, shipped, delivered, cancelled")
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	o, ok := s.orders[id]
	var old string
	allowed := false
	if ok {
		old = o.Status
		if allowed = slices.Contains(next[old], in.Status); allowed {
			o.Status = in.Status
		}
	}
	s.mu.Unlock()
	switch {
	case !ok:
		writeError(w, http.StatusNotFound, "no order "+strconv.Quote(id))
		return
	case !allowed:
		writeError(w, http.StatusConflict, "order "+id+" is "+old+" and cannot become "+in.Status)
		return
	}
	s.record(r.Context(), activitylog.Event{
		Kind:    activitylog.KindCRUD,
		Action:  "update",
		Message: "order " + id + " " + old + " → " + in.Status,
		Object:  activitylog.Object{Type: "order", ID: id},
		Changes: map[string]activitylog.Change{"status": {Old: old, New: in.Status}},
	})
	writeJSON(w, http.StatusOK, map[string]string{"id": id, "status": in.Status})
}

func (s *shop) deleteOrder(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	o, ok := s.orders[id]
	if ok {
		delete(s.orders, id)
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "no order "+strconv.Quote(id))
		return
	}
	s.record(r.Context(), activitylog.Event{
		Kind:    activitylog.KindCRUD,
		Action:  "delete",
		Message: "order " + id + " deleted",
		Object:  activitylog.Object{Type: "order", ID: id},
		Changes: map[string]activitylog.Change{"status": {Old: o.Status, New: nil}},
	})
	w.WriteHeader(http.StatusNoContent)
}

func (s *shop) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	u, ok := users[in.Username]
	if !ok || in.Password != u.password {
		// The attempted name is the actor, so that failures against
		// one account can be found with user_id=….
		a := activitylog.Actor{ID: in.Username, Name: in.Username, Type: activitylog.ActorAnonymous}
		if ok {
			a = u.actor
		}
		reason := "unknown user"
		if ok {
			reason = "wrong password"
		}
		httpaudit.SetActor(r.Context(), a)
		s.record(r.Context(), activitylog.Event{
			Kind:    activitylog.KindAuth,
			Action:  "login_failed",
			Message: "login failed for " + strconv.Quote(in.Username) + ": " + reason,
			Actor:   a,
		})
		writeError(w, http.StatusUnauthorized, "wrong user name or password")
		return
	}
	httpaudit.SetActor(r.Context(), u.actor)
	s.record(r.Context(), activitylog.Event{
		Kind:    activitylog.KindAuth,
		Action:  "login",
		Message: in.Username + " logged in",
		Actor:   u.actor,
	})
	writeJSON(w, http.StatusOK, map[string]string{"user": in.Username})
}

func (s *shop) logout(w http.ResponseWriter, r *http.Request) {
	a := activitylog.ActorFrom(r.Context())
	if a.ID == "" {
		writeError(w, http.StatusUnauthorized, "name yourself with the "+UserHeader+" header")
		return
	}
	s.record(r.Context(), activitylog.Event{
		Kind:    activitylog.KindAuth,
		Action:  "logout",
		Message: a.Name + " logged out",
	})
	w.WriteHeader(http.StatusNoContent)
}

func (s *shop) export(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	rows := make([]order, 0, len(s.orders))
	for _, o := range s.orders {
		rows = append(rows, *o)
	}
	s.mu.Unlock()
	slices.SortFunc(rows, func(a, b order) int { return cmp.Compare(a.ID, b.ID) })

	s.record(r.Context(), activitylog.Event{
		Kind:    activitylog.KindExport,
		Action:  "export",
		Message: "exported " + strconv.Itoa(len(rows)) + " orders as CSV",
		Object:  activitylog.Object{Type: "order"},
		Extra:   map[string]any{"format": "csv", "rows": len(rows)},
	})
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="orders.csv"`)
	cw := csv.NewWriter(w)
	cw.Write([]string{"id", "product_id", "quantity", "total", "status", "customer"})
	for _, o := range rows {
		cw.Write([]string{o.ID, o.ProductID, strconv.Itoa(o.Quantity), strconv.FormatFloat(o.Total, 'f', 2, 64), o.Status, o.Customer})
	}
	cw.Flush()
}

func (s *shop) inventorySync(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.syncs++
	fail := s.syncs%3 == 0
	s.mu.Unlock()
	if !fail {
		writeJSON(w, http.StatusOK, map[string]any{"synced": len(products)})
		return
	}
	s.record(r.Context(), activitylog.Event{
		Kind:     activitylog.KindSystem,
		Action:   "error",
		Message:  "inventory sync failed: supplier API timed out",
		Category: "inventory",
		Extra:    map[string]any{"supplier": "acme-wholesale", "timeout_ms": 2000},
	})
	writeError(w, http.StatusInternalServerError, "inventory sync failed")
}

// last4 returns the last four digits of a card number, or "".
func last4(card string) string {
	var digits []byte
	for i := 0; i < len(card); i++ {
		if c := card[i]; c >= '0' && c <= '9' {
			digits = append(digits, c)
		}
	}
	if len(digits) < 4 {
		return ""
	}
	return string(digits[len(digits)-4:])
}

const maxBody = 64 << 10

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := "the body must be a JSON object: " + err.Error()
		if errors.Is(err, io.EOF) {
			msg = "the body must be a JSON object"
		}
		writeError(w, http.StatusBadRequest, msg)
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
