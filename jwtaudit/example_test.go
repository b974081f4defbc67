package jwtaudit_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/httpaudit"
	"github.com/activitylog/activitylog/jwtaudit"
)

// printRecorder stands in for an *activitylog.Recorder: it prints the
// actor of each event.
type printRecorder struct{}

func (printRecorder) Record(_ context.Context, e activitylog.Event) error {
	fmt.Printf("recorded %s by %q\n", e.Message, e.Actor.ID)
	return nil
}

func ExampleVerifier() {
	secret := []byte("an-example-secret-of-32-bytes!!!")
	v, err := jwtaudit.NewVerifier(&jwtaudit.Options{
		HMACSecret: secret,
		Issuer:     "https://login.shop.example",
		// A fixed clock, so that the example's token stays valid.
		Now: func() time.Time { return time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		log.Fatal(err)
	}

	// The middleware names the actor of every request from its token.
	mux := http.NewServeMux()
	handler := httpaudit.Middleware(printRecorder{}, &httpaudit.Options{Actor: v.Actor})(mux)
	_ = &http.Server{Addr: ":8080", Handler: handler} // then ListenAndServe

	// What Actor makes of three requests.
	claims := jwt.MapClaims{
		"iss":     "https://login.shop.example",
		"user_id": 42, // user_id comes before sub
		"sub":     "auth0|5f7c",
		"name":    "Ann",
		"email":   "ann@shop.example",
		"exp":     time.Date(2026, 3, 4, 13, 0, 0, 0, time.UTC).Unix(),
	}
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("a guess"))
	for _, auth := range []string{"Bearer " + tok, "", "Bearer " + forged} {
		r := httptest.NewRequest("GET", "/orders/7", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		a, err := v.Actor(r)
		fmt.Printf("id=%q name=%q email=%q type=%q invalid=%v err=%v\n",
			a.ID, a.Name, a.Email, a.Type, errors.Is(err, jwtaudit.ErrTokenInvalid), err)
	}
	// Output:
	// id="42" name="Ann" email="ann@shop.example" type="user" invalid=false err=<nil>
	// id="" name="" email="" type="" invalid=false err=<nil>
	// id="" name="" email="" type="" invalid=true err=invalid token: token signature is invalid: signature is invalid
}
