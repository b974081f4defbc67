package bench

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/geoip"
	"github.com/activitylog/activitylog/httpaudit"
	"github.com/activitylog/activitylog/jwtaudit"
	"github.com/activitylog/activitylog/useragent"
)

// benchWriter is the cheapest ResponseWriter, so that the benchmarks
// measure the handler and the middleware, not httptest.
type benchWriter struct{ h http.Header }

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *benchWriter) WriteHeader(int)             {}

// discard is a Recorder that keeps nothing: what remains is the
// middleware's own work in the request's goroutine.
type discard struct{}

func (discard) Record(context.Context, activitylog.Event) error { return nil }

type nullWriter struct{}

func (nullWriter) Write(context.Context, []activitylog.Event) error { return nil }

var body = []byte(`{"id":7,"status":"paid"}`)

func handler(w http.ResponseWriter, r *http.Request) {
	w.Header()["Content-Type"] = []string{"application/json"}
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

const secret = "a-32-byte-secret-for-hs256-bench!"

// request is a browser's GET with a bearer token, from a public
// address that the test GeoIP database knows.
func request(token string) *http.Request {
	r := httptest.NewRequest("GET", "http://shop.example/api/orders/7?expand=lines", nil)
	r.RemoteAddr = "81.2.69.160:50000"
	r.Header.Set("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
	r.Header.Set("Accept", "application/json")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

func hsToken(b *testing.B, sub string) string {
	t, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": sub, "name": "Ann", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		b.Fatal(err)
	}
	return t
}

func rsKeys(b *testing.B) (*rsa.PrivateKey, []byte) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		b.Fatal(err)
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func rsToken(b *testing.B, k *rsa.PrivateKey, sub string) string {
	t, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"sub": sub, "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(k)
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// geoDB writes a small City database and opens it.
func geoDB(b *testing.B) *geoip.Reader {
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoIP2-City", RecordSize: 28})
	if err != nil {
		b.Fatal(err)
	}
	_, network, _ := net.ParseCIDR("81.2.69.0/24")
	err = tree.Insert(network, mmdbtype.Map{
		"city":     mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("London")}},
		"country":  mmdbtype.Map{"iso_code": mmdbtype.String("GB"), "names": mmdbtype.Map{"en": mmdbtype.String("United Kingdom")}},
		"location": mmdbtype.Map{"latitude": mmdbtype.Float64(51.5), "longitude": mmdbtype.Float64(-0.09)},
	})
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "city.mmdb")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		b.Fatal(err)
	}
	f.Close()
	g, err := geoip.Open(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { g.Close() })
	return g
}

// serve runs requests through h in the calling goroutine. next gives
// the request of iteration i.
func serve(b *testing.B, h http.Handler, next func(i int) *http.Request) {
	w := &benchWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		h.ServeHTTP(w, next(i))
	}
}

func same(r *http.Request) func(int) *http.Request { return func(int) *http.Request { return r } }

// BenchmarkCapture measures what httpaudit costs a request in its own
// goroutine, at the metadata level, against the bare handler in the
// same run:
//
//   - bare: the handler alone, the baseline;
//   - metadata: the middleware with its defaults (client hints,
//     security detection, policy, CORS check);
//   - metadata-nosecurity: the same without Detect, to show its share;
//   - hs256-warm / rs256-warm: plus a JWT actor, the token seen before
//     (the verified-token cache answers, as for a session's every
//     request after its first);
//   - hs256-cold / rs256-cold: every request a token never seen (the
//     cache misses; golang-jwt parses and verifies);
//   - full: HS256 warm, user-agent parsing, and a real Recorder with a
//     GeoIP Enricher (the lookup runs in the batcher, off the request's
//     goroutine; only the Recorder's queueing is paid here).
func BenchmarkCapture(b *testing.B) {
	hs, err := jwtaudit.NewVerifier(&jwtaudit.Options{HMACSecret: []byte(secret)})
	if err != nil {
		b.Fatal(err)
	}
	hsCold, err := jwtaudit.NewVerifier(&jwtaudit.Options{HMACSecret: []byte(secret), CacheSize: -1})
	if err != nil {
		b.Fatal(err)
	}
	key, pub := rsKeys(b)
	rs, err := jwtaudit.NewVerifier(&jwtaudit.Options{PublicKeyPEM: pub})
	if err != nil {
		b.Fatal(err)
	}
	rsCold, err := jwtaudit.NewVerifier(&jwtaudit.Options{PublicKeyPEM: pub, CacheSize: -1})
	if err != nil {
		b.Fatal(err)
	}
	ua := useragent.New(nil)
	mw := func(rec httpaudit.Recorder, o *httpaudit.Options) http.Handler {
		return httpaudit.Middleware(rec, o)(http.HandlerFunc(handler))
	}
	// Distinct tokens for the cold runs, made before the timer starts.
	const distinct = 4096
	hsTokens, rsTokens := make([]*http.Request, distinct), make([]*http.Request, 256)
	for i := range hsTokens {
		hsTokens[i] = request(hsToken(b, "u"+strconv.Itoa(i)))
	}
	for i := range rsTokens {
		rsTokens[i] = request(rsToken(b, key, "u"+strconv.Itoa(i)))
	}
	hsReq, rsReq := request(hsToken(b, "42")), request(rsToken(b, key, "42"))

	b.Run("bare", func(b *testing.B) { serve(b, http.HandlerFunc(handler), same(request(""))) })
	b.Run("metadata", func(b *testing.B) { serve(b, mw(discard{}, nil), same(request(""))) })
	b.Run("metadata-nosecurity", func(b *testing.B) {
		serve(b, mw(discard{}, &httpaudit.Options{NoSecurity: true}), same(request("")))
	})
	b.Run("hs256-warm", func(b *testing.B) {
		serve(b, mw(discard{}, &httpaudit.Options{Actor: hs.Actor}), same(hsReq))
	})
	b.Run("hs256-cold", func(b *testing.B) {
		serve(b, mw(discard{}, &httpaudit.Options{Actor: hsCold.Actor}), func(i int) *http.Request { return hsTokens[i%distinct] })
	})
	b.Run("rs256-warm", func(b *testing.B) {
		serve(b, mw(discard{}, &httpaudit.Options{Actor: rs.Actor}), same(rsReq))
	})
	b.Run("rs256-cold", func(b *testing.B) {
		serve(b, mw(discard{}, &httpaudit.Options{Actor: rsCold.Actor}), func(i int) *http.Request { return rsTokens[i%len(rsTokens)] })
	})
	b.Run("full", func(b *testing.B) {
		rec := activitylog.NewRecorder(nullWriter{}, &activitylog.Options{
			OnFull: activitylog.Drop, QueueSize: 1 << 16,
			Enrichers: []activitylog.Enricher{geoDB(b)},
		})
		defer rec.Shutdown(context.Background())
		serve(b, mw(rec, &httpaudit.Options{Actor: hs.Actor, Client: ua.Client}), same(hsReq))
	})
}
