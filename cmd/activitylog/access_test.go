package main

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/activitylog/activitylog"
)

var keyLine = regexp.MustCompile(`^(alk_[0-9a-f]{16}_[a-z2-7]{52})\n$`)

// The users and api-keys commands, run as a user would, on one
// database.
func TestCredentialCommands(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "a.db")
	var key string
	for _, tc := range []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stdout string // a regexp
		stderr string // a substring
	}{
		{"create user", "correct horse\n", []string{"users", "create", "--db", db, "--username", "ann", "--tenant", "acme", "--permissions", "view_logs, resolve_events", "--password-stdin"},
			0, `^created user ann \(id u_[0-9a-f]{16}, tenant "acme", permissions view_logs,resolve_events\)\n$`, ""},
		{"create superuser with an id", "another horse", []string{"users", "create", "--db", db, "--username", "root", "--id", "42", "--superuser", "--password-stdin"},
			0, `^created user root \(id 42, tenant "", permissions superuser\)\n$`, ""},
		{"username taken", "correct horse\n", []string{"users", "create", "--db", db, "--username", "ANN", "--password-stdin"},
			2, `^$`, `invalid username "ANN": is taken`},
		{"superuser by --permissions", "correct horse\n", []string{"users", "create", "--db", db, "--username", "bob", "--permissions", "superuser", "--password-stdin"},
			2, `^$`, "is granted only with --superuser"},
		{"unknown permission", "correct horse\n", []string{"users", "create", "--db", db, "--username", "bob", "--permissions", "admin", "--password-stdin"},
			2, `^$`, `invalid permissions "admin": is not a permission`},
		{"no --password-stdin", "correct horse\n", []string{"users", "create", "--db", db, "--username", "bob"},
			2, `^$`, "pass --password-stdin"},
		{"short password", "short\n", []string{"users", "create", "--db", db, "--username", "bob", "--password-stdin"},
			2, `^$`, "must be at least 8 characters"},
		{"two lines", "correct horse\nmore\n", []string{"users", "create", "--db", db, "--username", "bob", "--password-stdin"},
			2, `^$`, "more than one line"},
		{"no username", "", []string{"users", "create", "--db", db, "--password-stdin"}, 2, `^$`, "--username is required"},
		{"list users", "", []string{"users", "list", "--db", db},
			0, `^ID +USERNAME +TENANT +PERMISSIONS +CREATED +STATUS\nu_[0-9a-f]{16} +ann +acme +view_logs,resolve_events +\S+ +active\n42 +root +- +superuser +\S+ +active\n$`, ""},
		{"disable", "", []string{"users", "disable", "ann", "--db", db}, 0, `^user ann disabled; its sessions are ended\n$`, ""},
		{"disable nobody", "", []string{"users", "disable", "--db", db, "nobody"}, 1, `^$`, `no user "nobody"`},
		{"disable without a name", "", []string{"users", "disable", "--db", db}, 2, `^$`, "needs USERNAME"},
		{"list users as JSON", "", []string{"users", "list", "--json", "--db", db}, 0, `"disabled": true`, ""},
		{"unknown subcommand", "", []string{"users", "delete"}, 2, `^$`, `unknown subcommand "delete"`},
		{"no subcommand", "", []string{"api-keys"}, 2, `^$`, "no subcommand given"},

		{"create key", "", []string{"api-keys", "create", "--db", db, "--name", "billing ingest", "--scopes", "ingest", "--tenant", "acme", "--expires", "720h"},
			0, keyLine.String(), `(scopes ingest, tenant "acme", expires 20`},
		{"superuser scope without the flag", "", []string{"api-keys", "create", "--db", db, "--name", "x", "--scopes", "superuser"},
			2, `^$`, "may be granted to a key only by the command line: activitylog api-keys create --superuser"},
		{"superuser key", "", []string{"api-keys", "create", "--db", db, "--name", "ops", "--superuser"}, 0, keyLine.String(), "scopes superuser"},
		{"no scopes", "", []string{"api-keys", "create", "--db", db, "--name", "x"}, 2, `^$`, "--scopes is required"},
		{"bad expiry", "", []string{"api-keys", "create", "--db", db, "--name", "x", "--scopes", "ingest", "--expires", "soon"}, 2, `^$`, `--expires "soon": is not a duration`},
		{"revoke a whole key", "", []string{"api-keys", "revoke", "--db", db, "KEY"}, 0, `^revoked alk_[0-9a-f]{16}\n$`, ""},
		{"revoke unknown", "", []string{"api-keys", "revoke", "--db", db, "alk_0000000000000000"}, 1, `^$`, "no API key alk_0000000000000000"},
		{"revoke not an id", "", []string{"api-keys", "revoke", "--db", db, "alk_0123_secretsecretsecretsecret"}, 2, `^$`, "is not an API key id"},
		{"list keys", "", []string{"api-keys", "list", "--db", db},
			0, `(?s)^ID +NAME +TENANT +SCOPES +CREATED +EXPIRES +LAST USED +STATUS\nalk_.*billing ingest +acme +ingest .* revoked\n.*ops +- +superuser .* never +never +active\n$`, ""},
		{"help", "", []string{"help", "api-keys"}, 0, `(?s)Flags of every activitylog api-keys subcommand:\n  --config FILE.*--db PATH.*Flags of activitylog api-keys create:.*--superuser.*Flags of activitylog api-keys list:\n  --json`, ""},
		{"subcommand help", "", []string{"users", "create", "--help"}, 0, `(?s)^Usage: activitylog users create \[flags\]\n.*--db PATH.*--password-stdin`, ""},
	} {
		args := tc.args
		for i, a := range args {
			if a == "KEY" {
				args = append(append([]string{}, args[:i]...), append([]string{key}, args[i+1:]...)...)
			}
		}
		r := runBinInput(t, tc.stdin, nil, args...)
		if r.code != tc.code || !regexp.MustCompile(tc.stdout).MatchString(r.stdout) || !strings.Contains(r.stderr, tc.stderr) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want %d, %s, %q", tc.name, r.code, r.stdout, r.stderr, tc.code, tc.stdout, tc.stderr)
		}
		if m := keyLine.FindStringSubmatch(r.stdout); m != nil && key == "" {
			key = m[1]
		}
		if key != "" && strings.Contains(r.stderr, key[len(key)-52:]) {
			t.Errorf("%s: stderr shows a key's secret: %s", tc.name, r.stderr)
		}
	}
	if r := runBin(t, nil, "api-keys", "list", "--db", db); key != "" && strings.Contains(r.stdout, key[len(key)-52:]) {
		t.Error("api-keys list shows a secret")
	}
}

// serve over a database the commands filled: the users sign in, the
// keys work until revoked, and the first start's key is shown once.
func TestServeAuthentication(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "a.db")
	if r := runBinInput(t, "correct horse\n", nil, "users", "create", "--db", db, "--username", "ann", "--permissions", "view_all_logs", "--password-stdin"); r.code != 0 {
		t.Fatalf("users create: %d %s", r.code, r.stderr)
	}
	s := startServe(t, "--db", db)
	if s.key != "" {
		t.Fatalf("serve made a key over a database with a user:\n%s", s.log.String())
	}

	// A user signs in, reads, and cannot post without the CSRF token.
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	resp, err := client.Post(s.url+"/api/v1/auth/login", "application/json", strings.NewReader(`{"username":"ann","password":"correct horse"}`))
	if err != nil {
		t.Fatal(err)
	}
	var login struct {
		CSRFToken string `json:"csrf_token"`
	}
	json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if resp.StatusCode != 200 || login.CSRFToken == "" {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	resp, err = client.Get(s.url + "/api/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /events signed in: %d", resp.StatusCode)
	}
	resp, err = client.Post(s.url+"/api/v1/auth/logout", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("logout without the CSRF token: %d", resp.StatusCode)
	}

	// A key made while serve runs works at once, and stops when revoked.
	r := runBin(t, nil, "api-keys", "create", "--db", db, "--name", "ingest", "--scopes", "ingest")
	m := keyLine.FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		t.Fatalf("api-keys create: %d %q %q", r.code, r.stdout, r.stderr)
	}
	key := m[1]
	if code := s.do(t, "POST", key, "/api/v1/events", `{"kind":"custom","action":"ping"}`, nil); code != 201 {
		t.Errorf("POST with the new key: %d", code)
	}
	if code := s.get(t, key, "/api/v1/events", nil); code != 403 {
		t.Errorf("GET with an ingest key: %d, want 403", code)
	}
	if r := runBin(t, nil, "api-keys", "revoke", "--db", db, key[:len("alk_0123456789abcdef")]); r.code != 0 {
		t.Fatalf("revoke: %d %s", r.code, r.stderr)
	}
	var body string
	if code := s.do(t, "POST", key, "/api/v1/events", `{"kind":"custom","action":"ping"}`, &body); code != 401 || !strings.Contains(body, "was revoked at") {
		t.Errorf("POST with the revoked key: %d %s", code, body)
	}
	// No credentials at all.
	if code := s.get(t, "", "/api/v1/events", &body); code != 401 || !strings.Contains(body, "authentication required") {
		t.Errorf("GET without credentials: %d %s", code, body)
	}
	s.stop(t)
}

// serve with a JWT secret file takes bearer JWTs signed with it.
func TestServeJWT(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secret := "0123456789abcdef0123456789abcdef"
	file := filepath.Join(dir, "jwt.secret")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, "--db", filepath.Join(dir, "a.db"), "--jwt-secret-file", file, "--jwt-tenant-claim", "org", "--jwt-issuer", "https://login.example")
	sign := func(claims jwt.MapClaims) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	exp := time.Now().Add(time.Hour).Unix()
	var p activitylog.Principal
	good := sign(jwt.MapClaims{"sub": "42", "org": "acme", "iss": "https://login.example", "exp": exp, "permissions": []string{"view_all_logs"}})
	if code := s.get(t, good, "/api/v1/me", &p); code != 200 || p.Method != "jwt" || p.Tenant != "acme" || p.ID != "42" {
		t.Errorf("GET /me with a JWT: %d %+v", code, p)
	}
	var body string
	for _, tc := range []struct {
		name, token, want string
	}{
		{"unknown permission", sign(jwt.MapClaims{"sub": "42", "iss": "https://login.example", "exp": exp, "permissions": []string{"admin"}}), `\"admin\" is not a permission`},
		{"superuser", sign(jwt.MapClaims{"sub": "42", "iss": "https://login.example", "exp": exp, "permissions": "superuser"}), "superuser is not accepted"},
		{"other issuer", sign(jwt.MapClaims{"sub": "42", "iss": "https://evil.example", "exp": exp}), "invalid issuer"},
	} {
		if code := s.get(t, tc.token, "/api/v1/me", &body); code != 401 || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s", tc.name, code, body)
		}
	}
	// The API key printed at the first start works beside JWTs.
	if code := s.get(t, s.key, "/api/v1/me", &p); code != 200 || p.Method != "api_key" {
		t.Errorf("GET /me with the bootstrap key: %d %+v", code, p)
	}
	s.stop(t)
}

// The first start over a new database prints a console user beside the
// API key, with which a newcomer signs in; later starts print neither.
func TestServeFirstStartConsoleUser(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "new.db")
	s := startServe(t, "--db", db)
	if s.key == "" || len(s.password) != 26 || !strings.Contains(s.log.String(), "username admin") {
		t.Fatalf("first start: key %q, password %q:\n%s", s.key, s.password, s.log.String())
	}
	resp, err := http.Post(s.url+"/api/v1/auth/login", "application/json",
		strings.NewReader(`{"username":"admin","password":"`+s.password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var login struct {
		Principal activitylog.Principal `json:"principal"`
	}
	json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if resp.StatusCode != 200 || !login.Principal.Has(activitylog.Superuser) {
		t.Fatalf("sign-in with the printed password: %d %+v", resp.StatusCode, login.Principal)
	}
	s.stop(t)
	s = startServe(t, "--db", db)
	if s.key != "" || s.password != "" || strings.Contains(s.log.String(), "password") {
		t.Errorf("the second start printed credentials:\n%s", s.log.String())
	}
	s.stop(t)
}
