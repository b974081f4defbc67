package access

import (
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestActorFromClaimsInvalidUTF8: a claim that is not UTF-8 (which no
// JSON decoder hands over, but a verifier might) is refused, naming
// the claim, with the bad bytes replaced in the message.
func TestActorFromClaimsInvalidUTF8(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		claims jwt.MapClaims
		want   string
	}{
		{jwt.MapClaims{"sub": "4\xff2"}, "claim \"sub\": \"4\ufffd2\" must be UTF-8 without control characters"},
		{jwt.MapClaims{"sub": "42", "name": "A\xc3nn"}, "claim \"name\": \"A\ufffdnn\" must be UTF-8"},
		{jwt.MapClaims{"sub": "42", "org": "ac\xffme"}, "claim \"org\": \"ac\ufffdme\" must be UTF-8"},
		{jwt.MapClaims{"sub": "42", "org": strings.Repeat("é", 600)}, `claim "org": "ééé`},
	} {
		_, err := actorFromClaims(tc.claims, "org", "permissions", false)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v; want %q", tc.claims, err, tc.want)
		}
	}
}
