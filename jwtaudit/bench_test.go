package jwtaudit_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/httpaudit"
	"github.com/activitylog/activitylog/jwtaudit"
)

// benchActor calls v.Actor with the same request b.N times.
func benchActor(b *testing.B, v *jwtaudit.Verifier, auth string) {
	r := request(auth)
	if _, err := v.Actor(r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Actor(r); err != nil {
			b.Fatal(err)
		}
	}
}

// benchAlg runs a token signed with method under cold (cache disabled,
// every call parses and verifies) and warm (cached).
func benchAlg(b *testing.B, method jwt.SigningMethod, signKey any, opts jwtaudit.Options) {
	tok := "Bearer " + sign(b, method, signKey, claims(nil), nil)
	opts.Now = fixedNow
	for _, bc := range []struct {
		name string
		size int
	}{{"cold", -1}, {"warm", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			opts.CacheSize = bc.size
			benchActor(b, must(jwtaudit.NewVerifier(&opts)), tok)
		})
	}
	b.Run("warm-parallel", func(b *testing.B) {
		opts.CacheSize = 0
		v := must(jwtaudit.NewVerifier(&opts))
		r := request(tok)
		v.Actor(r)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := v.Actor(r); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkNoToken is the baseline: a request without Authorization.
func BenchmarkNoToken(b *testing.B) {
	v := must(jwtaudit.NewVerifier(&jwtaudit.Options{HMACSecret: keys().secret}))
	r := request("")
	b.ReportAllocs()
	for b.Loop() {
		v.Actor(r)
	}
}

func BenchmarkActorHS256(b *testing.B) {
	benchAlg(b, jwt.SigningMethodHS256, keys().secret, jwtaudit.Options{HMACSecret: keys().secret})
}

func BenchmarkActorRS256(b *testing.B) {
	k := keys()
	benchAlg(b, jwt.SigningMethodRS256, k.rsa, jwtaudit.Options{PublicKeyPEM: pemOf(&k.rsa.PublicKey)})
}

func BenchmarkActorES256(b *testing.B) {
	k := keys()
	benchAlg(b, jwt.SigningMethodES256, k.p256, jwtaudit.Options{PublicKeyPEM: pemOf(&k.p256.PublicKey)})
}

type discardRecorder struct{}

func (discardRecorder) Record(context.Context, activitylog.Event) error { return nil }

type benchWriter struct{ h http.Header }

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *benchWriter) WriteHeader(int)             {}

// BenchmarkMiddlewareHS256 is the request middleware with an HS256
// token read by a layer inside it, as a service pays per request:
// "middleware" is the middleware alone, the others add v.Actor and
// httpaudit.SetActor, with the token cached (warm) or not (cold).
func BenchmarkMiddlewareHS256(b *testing.B) {
	tok := "Bearer " + sign(b, jwt.SigningMethodHS256, keys().secret, claims(nil), nil)
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	auth := func(v *jwtaudit.Verifier) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if a, err := v.Actor(r); err == nil && a.ID != "" {
				httpaudit.SetActor(r.Context(), a)
			}
			app.ServeHTTP(w, r)
		})
	}
	for _, bc := range []struct {
		name string
		size int // 0: no verifier
	}{{"middleware", 0}, {"warm", 1024}, {"cold", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			var inner http.Handler = app
			if bc.size != 0 {
				inner = auth(must(jwtaudit.NewVerifier(&jwtaudit.Options{HMACSecret: keys().secret, CacheSize: bc.size, Now: fixedNow})))
			}
			h := httpaudit.Middleware(discardRecorder{}, nil)(inner)
			r := request(tok)
			w := &benchWriter{h: http.Header{}}
			h.ServeHTTP(w, r)
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, r)
			}
		})
	}
}
