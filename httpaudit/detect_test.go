package httpaudit_test

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/httpaudit"
)

// corpusLine is one line of testdata/detect/*.txt.
type corpusLine struct {
	n        int // line number
	where    string
	payload  string
	category string // the "## category" it falls under; attacks only
}

func readCorpus(t *testing.T, name string) []corpusLine {
	t.Helper()
	f, err := os.Open("testdata/detect/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []corpusLine
	category := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			category = strings.TrimPrefix(line, "## ")
			continue
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		}
		where, payload, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("%s:%d: no tab: %q", name, n, line)
		}
		lines = append(lines, corpusLine{n, where, payload, category})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// input makes the DetectInput of a corpus line. A body is JSON when it
// starts with '{' or '[', XML when it starts with '<', and a form
// otherwise.
func (c corpusLine) input(t *testing.T) httpaudit.DetectInput {
	in := httpaudit.DetectInput{Method: "GET", Path: "/", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"}
	switch c.where {
	case "path":
		in.Path = c.payload
	case "query":
		in.RawQuery = c.payload
	case "user_agent":
		in.UserAgent = c.payload
	case "body":
		in.Method = "POST"
		in.Body = []byte(c.payload)
		switch c.payload[0] {
		case '{', '[':
			in.ContentType = "application/json"
		case '<':
			in.ContentType = "application/xml; charset=utf-8"
		default:
			in.ContentType = "application/x-www-form-urlencoded"
		}
	default:
		t.Fatalf("line %d: unknown where %q", c.n, c.where)
	}
	return in
}

func describe(sigs []httpaudit.Signal) string {
	var b strings.Builder
	for i, s := range sigs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s@%s %q", s.Rule, s.Where, s.Match)
	}
	return b.String()
}

// TestDetectCorpus measures the detection rate on attacks.txt and the
// false-positive rate on benign.txt. docs/security-signals.md quotes
// both figures.
func TestDetectCorpus(t *testing.T) {
	attacks := readCorpus(t, "attacks.txt")
	benign := readCorpus(t, "benign.txt")
	if len(attacks) < 150 || len(benign) < 300 {
		t.Fatalf("corpus too small: %d attacks (want 150), %d benign (want 300)", len(attacks), len(benign))
	}

	seen := map[string]bool{}
	flagged := 0
	for _, c := range attacks {
		sigs := httpaudit.Detect(c.input(t))
		if len(sigs) == 0 {
			t.Logf("miss: attacks.txt:%d %s %q", c.n, c.where, c.payload)
			continue
		}
		flagged++
		ok := false
		for _, s := range sigs {
			ok = ok || s.Category == c.category
			seen[s.Category] = true
		}
		if !ok {
			t.Errorf("attacks.txt:%d %q: flagged as %s, not as %s", c.n, c.payload, describe(sigs), c.category)
		}
	}
	falsePos := 0
	for _, c := range benign {
		if sigs := httpaudit.Detect(c.input(t)); len(sigs) > 0 {
			falsePos++
			t.Logf("false positive: benign.txt:%d %s %q: %s", c.n, c.where, c.payload, describe(sigs))
		}
	}

	detection := float64(flagged) / float64(len(attacks))
	fp := float64(falsePos) / float64(len(benign))
	t.Logf("detection rate: %d/%d = %.4f", flagged, len(attacks), detection)
	t.Logf("false-positive rate: %d/%d = %.4f", falsePos, len(benign), fp)
	if detection < 0.95 {
		t.Errorf("detection rate %.4f, want at least 0.95", detection)
	}
	if fp > 0.01 {
		t.Errorf("false-positive rate %.4f, want at most 0.01", fp)
	}
	for _, cat := range []string{
		httpaudit.CategoryPathTraversal, httpaudit.CategorySQLi, httpaudit.CategoryXSS, httpaudit.CategoryCmdi,
		httpaudit.CategorySSTI, httpaudit.CategoryJNDI, httpaudit.CategorySSRF, httpaudit.CategoryXXE,
		httpaudit.CategoryProbe, httpaudit.CategoryScanner,
	} {
		if !seen[cat] {
			t.Errorf("no attack flagged under category %s", cat)
		}
	}
}

func rules(sigs []httpaudit.Signal) []string {
	var r []string
	for _, s := range sigs {
		r = append(r, s.Rule)
	}
	return r
}

func TestDetectRules(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		in   httpaudit.DetectInput
		want []string
	}{
		{"nothing", httpaudit.DetectInput{Method: "GET", Path: "/api/orders/123", RawQuery: "page=2"}, nil},
		{"empty", httpaudit.DetectInput{}, nil},
		{"double encoded traversal", httpaudit.DetectInput{Path: "/files/%252e%252e/%252e%252e/etc/passwd"},
			[]string{"traversal.dotdot", "traversal.sensitive_file"}},
		{"triple encoded", httpaudit.DetectInput{RawQuery: "q=%25253Cscript%25253E"}, []string{"xss.script_tag"}},
		{"four rounds are not decoded", httpaudit.DetectInput{RawQuery: "q=%2525253Cscript%2525253E"}, nil},
		{"plus is a space in a query", httpaudit.DetectInput{RawQuery: "id=1+union+select+1,2"}, []string{"sqli.union_select"}},
		{"plus is not a space in a path", httpaudit.DetectInput{Path: "/1+union+select+1,2"}, nil},
		{"query name", httpaudit.DetectInput{RawQuery: "%3Cscript%3E=1"}, []string{"xss.script_tag"}},
		{"name and value apart", httpaudit.DetectInput{RawQuery: "union=select+1,2"}, nil},
		{"comment as space", httpaudit.DetectInput{RawQuery: "id=1/**/UNION/**/SELECT/**/1,2"}, []string{"sqli.union_select"}},
		{"mysql versioned comment", httpaudit.DetectInput{RawQuery: "id=1/*!12345UNION*//*!12345SELECT*/1,2"}, []string{"sqli.union_select"}},
		{"nul dropped", httpaudit.DetectInput{RawQuery: "q=<scr%00ipt>"}, []string{"xss.script_tag"}},
		{"entities", httpaudit.DetectInput{RawQuery: "q=%26lt;svg/onload%26equals;alert(1)%26gt;"}, []string{"xss.event_handler", "xss.js_breakout"}},
		{"overlong utf-8", httpaudit.DetectInput{RawQuery: "f=%c0%ae%c0%ae/%c0%ae%c0%ae/x"}, []string{"traversal.dotdot"}},
		{"backslash", httpaudit.DetectInput{RawQuery: `f=..\..\boot.ini`}, []string{"traversal.dotdot", "traversal.sensitive_file"}},
		{"json escapes", httpaudit.DetectInput{Body: []byte(`{"a":["x",{"b":"\u003cscript\u003ealert(1)\u003c/script\u003e"}]}`), ContentType: "application/json"},
			[]string{"xss.script_tag", "xss.js_breakout"}},
		{"json keys", httpaudit.DetectInput{Body: []byte(`{"' or 1=1--":1}`), ContentType: "application/vnd.api+json"},
			[]string{"sqli.tautology"}},
		{"json sniffed", httpaudit.DetectInput{Body: []byte(` {"q":"1 union select null"}`)}, []string{"sqli.union_select"}},
		{"script tag named in a body", httpaudit.DetectInput{Body: []byte(`{"q":"is the <script> tag deprecated?"}`)}, nil},
		{"script tag in a body", httpaudit.DetectInput{Body: []byte(`{"q":"<script src=//evil.example/x.js>"}`)}, []string{"xss.script_tag"}},
		{"json cut short", httpaudit.DetectInput{Body: []byte(`{"q":"<svg onload=alert(1)`), ContentType: "application/json"}, []string{"xss.event_handler", "xss.js_breakout"}},
		{"form body", httpaudit.DetectInput{Body: []byte("a=1&b=%24%7Bjndi%3Aldap%3A%2F%2Fx%7D"), ContentType: "application/x-www-form-urlencoded; charset=utf-8"},
			[]string{"jndi.lookup"}},
		{"text body", httpaudit.DetectInput{Body: []byte("hello\n<?php system('id'); ?>"), ContentType: "text/plain"}, []string{"cmdi.php_code"}},
		{"multipart file name", httpaudit.DetectInput{
			Body: []byte("--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"../../../etc/cron.d/x\"\r\n\r\n<script>\r\n" +
				"--XX\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\n1' or '1'='1\r\n--XX--\r\n"),
			ContentType: "multipart/form-data; boundary=XX"},
			[]string{"traversal.dotdot", "sqli.tautology"}},
		{"body past the limit", httpaudit.DetectInput{Body: []byte(strings.Repeat("a", httpaudit.MaxDetectBody) + "<script>")}, nil},
		{"method", httpaudit.DetectInput{Method: "TRACE", Path: "/"}, []string{"probe.method"}},
		{"one signal per rule", httpaudit.DetectInput{RawQuery: "a=<script>&b=<script>", UserAgent: "<script>"}, []string{"xss.script_tag"}},
		{"rule order", httpaudit.DetectInput{Path: "/.env", RawQuery: "q={{7*7}}", UserAgent: "sqlmap/1.8"},
			[]string{"ssti.arithmetic", "probe.dotenv", "scanner.sqlmap"}},
		{"wordpress not also php", httpaudit.DetectInput{Path: "/wp-login.php"}, []string{"probe.wordpress"}},
		{"php", httpaudit.DetectInput{Path: "/index.php"}, []string{"probe.script_ext"}},
		{"ordinary admin", httpaudit.DetectInput{Path: "/api/admin/users"}, nil},
		{"app.env.js", httpaudit.DetectInput{Path: "/static/app.env.js"}, nil},
		{"well-known", httpaudit.DetectInput{Path: "/.well-known/security.txt"}, nil},
		{"actuator health", httpaudit.DetectInput{Path: "/actuator/health"}, nil},
		{"scanner only in the user agent", httpaudit.DetectInput{RawQuery: "q=sqlmap+tutorial"}, nil},
		{"bot is not a scanner", httpaudit.DetectInput{UserAgent: "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}, nil},
		{"log4shell nested", httpaudit.DetectInput{UserAgent: "${${lower:J}${upper:n}${::-d}i:ldap://x/a}"}, []string{"jndi.lookup"}},
		{"log4shell in a path", httpaudit.DetectInput{Path: "/$%7Bjndi:ldap://x/a%7D"}, []string{"jndi.lookup"}},
		{"shellshock", httpaudit.DetectInput{UserAgent: "() { :; }; /bin/ping -c1 10.0.0.1"}, []string{"cmdi.shell_command", "cmdi.shellshock"}},
		{"id-id locale", httpaudit.DetectInput{UserAgent: "Mozilla/5.0 (Linux; U; Android 4.4; id-id; GT-I9500)"}, nil},
		{"sql words", httpaudit.DetectInput{RawQuery: "q=union+station&r=select+a+plan&s=O%27Brien&t=rock+%27n%27+roll"}, nil},
		{"redirect url", httpaudit.DetectInput{RawQuery: "redirect=https%3A%2F%2Fapp.example.com%2Fcb%3Fa%3D1%26b%3D2"}, nil},
		{"markdown in json", httpaudit.DetectInput{Body: []byte(`{"md":"**hi** <b>there</b>, run ` + "`ls -la`" + ` first"}`), ContentType: "application/json"}, nil},
		{"iframe in a body", httpaudit.DetectInput{Body: []byte(`{"html":"<iframe src=\"https://www.youtube.com/embed/x\"></iframe>"}`), ContentType: "application/json"}, nil},
		{"iframe in a query", httpaudit.DetectInput{RawQuery: "q=<iframe src=//x>"}, []string{"xss.embed_tag"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sigs := httpaudit.Detect(tt.in)
			if got := rules(sigs); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v\n%s", got, tt.want, describe(sigs))
			}
		})
	}
}

func TestDetectSignal(t *testing.T) {
	t.Parallel()
	sigs := httpaudit.Detect(httpaudit.DetectInput{
		RawQuery:  "id=1%27%20UNION%20SELECT%20password%20FROM%20users--",
		UserAgent: "sqlmap/1.8.2#stable (https://sqlmap.org)",
	})
	want := []httpaudit.Signal{
		{Rule: "sqli.union_select", Category: "sqli", Where: "query", Match: "1' UNION SELECT password FROM users--", Severity: activitylog.SeverityError},
		{Rule: "scanner.sqlmap", Category: "scanner", Where: "user_agent", Match: "sqlmap/1.8.2#stable (https://sqlmap.org)", Severity: activitylog.SeverityWarning},
	}
	if !slices.Equal(sigs, want) {
		t.Errorf("got\n%+v\nwant\n%+v", sigs, want)
	}
}

// TestDetectMatch holds that a Match is at most 128 bytes of valid UTF-8
// without control characters, whatever the value around it.
func TestDetectMatch(t *testing.T) {
	t.Parallel()
	for _, q := range []string{
		"q=" + strings.Repeat("%ff", 40) + "<script>" + strings.Repeat("é", 200),
		"q=" + strings.Repeat("日本", 30) + "%0a%0d<script>" + strings.Repeat("\t%01", 100),
		"q=%e6%97<script>%e6",
	} {
		sigs := httpaudit.Detect(httpaudit.DetectInput{RawQuery: q})
		if len(sigs) != 1 {
			t.Fatalf("%q: got %s", q, describe(sigs))
		}
		checkSignals(t, sigs)
		if !strings.Contains(sigs[0].Match, "<script>") {
			t.Errorf("%q: match %q does not hold the payload", q, sigs[0].Match)
		}
	}
}

var (
	categories = []string{"path_traversal", "sqli", "xss", "cmdi", "ssti", "jndi", "ssrf", "xxe", "probe", "scanner"}
	wheres     = []string{"path", "query", "body", "user_agent", "method"}
)

func checkSignals(t *testing.T, sigs []httpaudit.Signal) {
	t.Helper()
	seen := map[string]bool{}
	for _, s := range sigs {
		if len(s.Match) > 128 || !utf8.ValidString(s.Match) {
			t.Errorf("%s: match of %d bytes, valid UTF-8 %v: %q", s.Rule, len(s.Match), utf8.ValidString(s.Match), s.Match)
		}
		for _, r := range s.Match {
			if r < 0x20 || r == 0x7f {
				t.Errorf("%s: control character in match %q", s.Rule, s.Match)
			}
		}
		if seen[s.Rule] {
			t.Errorf("%s: reported twice", s.Rule)
		}
		seen[s.Rule] = true
		if !strings.HasPrefix(s.Rule, strings.SplitN(s.Rule, ".", 2)[0]+".") || !slices.Contains(categories, s.Category) || !slices.Contains(wheres, s.Where) {
			t.Errorf("bad signal %+v", s)
		}
		if s.Severity != activitylog.SeverityWarning && s.Severity != activitylog.SeverityError {
			t.Errorf("%s: severity %q", s.Rule, s.Severity)
		}
	}
}

// TestDetectPathological feeds inputs made to trip the rules' look-ahead
// at every byte; they must finish (the rules are linear, or bounded per
// position).
func TestDetectPathological(t *testing.T) {
	t.Parallel()
	n := httpaudit.MaxDetectBody
	for _, s := range []string{
		strings.Repeat("/*", n/2),
		strings.Repeat("${", n/2),
		strings.Repeat("${::-", n/5),
		strings.Repeat("<a ", n/3),
		strings.Repeat("' on", n/4),
		strings.Repeat("or ", n/3),
		strings.Repeat("../", n/3),
		strings.Repeat("etc/passwd", n/10),
		strings.Repeat(";", n),
		strings.Repeat("{", n),
		strings.Repeat("%25", n/3),
		strings.Repeat("&#x3c;", n/6),
		strings.Repeat("\"\\u0000", n/7),
	} {
		sigs := httpaudit.Detect(httpaudit.DetectInput{Path: "/" + s, RawQuery: "q=" + s, UserAgent: s, Body: []byte(s)})
		checkSignals(t, sigs)
	}
}

func FuzzDetect(f *testing.F) {
	f.Add("GET", "/api/orders/123", "page=2", "Mozilla/5.0", []byte(nil), "")
	f.Add("POST", "/.env", "id=1%27%20or%20%271%27%3D%271", "sqlmap/1.8", []byte(`{"a":"\u003cscript"}`), "application/json")
	f.Add("TRACE", "/%c0%ae%c0%ae/", "q=%26#x3c;svg/onload=alert(1)>", "${${::-j}ndi:x}", []byte("a=%3C&b"), "application/x-www-form-urlencoded")
	f.Add("PUT", "/x", "", "() { :; }; id", []byte("--B\r\nContent-Disposition: form-data; name=\"a\"; filename=\"../x\"\r\n\r\nv\r\n--B--"), "multipart/form-data; boundary=B")
	f.Add("GET", "/", "q=/*!*/%u003c", "", []byte("\"\\ud83d\\ude00\\ud800"), "")
	f.Fuzz(func(t *testing.T, method, path, query, ua string, body []byte, ct string) {
		in := httpaudit.DetectInput{Method: method, Path: path, RawQuery: query, UserAgent: ua, Body: body, ContentType: ct}
		sigs := httpaudit.Detect(in)
		checkSignals(t, sigs)
		if again := httpaudit.Detect(in); !slices.Equal(sigs, again) {
			t.Fatalf("not deterministic:\n%v\n%v", sigs, again)
		}
	})
}

func ExampleDetect() {
	sigs := httpaudit.Detect(httpaudit.DetectInput{
		Method:    "GET",
		Path:      "/search",
		RawQuery:  "q=%27%20OR%20%271%27%3D%271",
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0",
	})
	for _, s := range sigs {
		fmt.Println(s.Rule, s.Category, s.Where, s.Severity, s.Match)
	}
	// Output:
	// sqli.tautology sqli query error ' OR '1'='1
}

func BenchmarkDetectBenign(b *testing.B) {
	in := httpaudit.DetectInput{
		Method:    "GET",
		Path:      "/api/orders/123",
		RawQuery:  "page=2",
		UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
	}
	b.ReportAllocs()
	for b.Loop() {
		if httpaudit.Detect(in) != nil {
			b.Fatal("flagged")
		}
	}
}

func BenchmarkDetectAttack(b *testing.B) {
	in := httpaudit.DetectInput{
		Method:    "GET",
		Path:      "/api/products",
		RawQuery:  "id=1%27%20UNION%20SELECT%20username%2Cpassword%20FROM%20users--&q=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E",
		UserAgent: "sqlmap/1.8.2#stable (https://sqlmap.org)",
	}
	b.ReportAllocs()
	for b.Loop() {
		if httpaudit.Detect(in) == nil {
			b.Fatal("not flagged")
		}
	}
}

// benchJSON is a benign JSON body of 2 KiB: an order with its lines.
var benchJSON = func() []byte {
	var b strings.Builder
	b.WriteString(`{"id":"ord_2N3k4J5h6G","customer":{"id":"cus_42","name":"Jane O'Brien","email":"jane@example.com",` +
		`"address":{"line1":"1 Union Square","city":"San Francisco","zip":"94108","country":"US"}},"lines":[`)
	for i := 0; b.Len() < 1900; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sku":"SKU-%04d","title":"Rock 'n' roll T-shirt (size %d)","qty":%d,"price":19.99,"tags":["cotton","sale"]}`, i, i, i+1)
	}
	b.WriteString(`],"note":"Please deliver after 5pm -- thanks!","created_at":"2024-10-01T12:00:00Z"}`)
	return []byte(b.String())
}()

func BenchmarkDetectJSONBody(b *testing.B) {
	in := httpaudit.DetectInput{
		Method:      "POST",
		Path:        "/api/orders",
		UserAgent:   "MyShop/3.4.1 (iPhone; iOS 17.4.1; Scale/3.00)",
		Body:        benchJSON,
		ContentType: "application/json",
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchJSON)))
	for b.Loop() {
		if httpaudit.Detect(in) != nil {
			b.Fatal("flagged")
		}
	}
}

func BenchmarkDetectParallel(b *testing.B) {
	in := httpaudit.DetectInput{
		Method:    "GET",
		Path:      "/api/orders/123",
		RawQuery:  "page=2",
		UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			httpaudit.Detect(in)
		}
	})
}
