package useragent

import (
	"bytes"
	"github.com/activitylog/activitylog/internal/lru"
	"hash/maphash"
	"net/http"
	"strings"
	"sync/atomic"

	mua "github.com/medama-io/go-useragent"
	"github.com/medama-io/go-useragent/agents"

	"github.com/activitylog/activitylog/httpaudit"
)

// Options configures New. The zero value, or nil, means the defaults
// written beside each field.
type Options struct {
	// CacheSize is how many distinct User-Agent strings the Parser
	// remembers the parse of. User-Agents repeat a lot, so a small cache
	// answers most requests. When it is full, the least recently used
	// entry is forgotten. User-Agents longer than 1 KiB are never
	// cached. Default: 4096. A negative size disables the cache.
	CacheSize int
}

// Parser describes clients from their request headers. Its methods may
// be called from many goroutines at once.
type Parser struct {
	ua     *mua.Parser
	cache  *lru.Cache[string, httpaudit.Client] // nil when disabled
	seed   maphash.Seed
	misses atomic.Uint64 // parses, when there is no cache
}

// Stats counts the work a Parser has done.
type Stats struct {
	Hits    uint64 // User-Agents answered from the cache
	Misses  uint64 // User-Agents parsed
	Entries int    // User-Agents in the cache now
}

// Limits on the User-Agents a Parser reads.
const (
	maxCachedUA = 1 << 10 // longer ones are parsed every time
	maxParsedUA = 4 << 10 // only this much of a longer one is read
)

// New returns a Parser. opts may be nil. The first call in a process
// builds the library's matching tables, which takes some tens of
// milliseconds; later calls share them.
func New(opts *Options) *Parser {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.CacheSize == 0 {
		o.CacheSize = 4096
	}
	p := &Parser{ua: mua.NewParser(), seed: maphash.MakeSeed()}
	p.cache = lru.New[string, httpaudit.Client](o.CacheSize, func(s string) uint64 {
		return maphash.String(p.seed, s)
	})
	return p
}

// Client describes the client that sent a request with header h. It has
// the shape of httpaudit.Options.Client:
//
//	httpaudit.Middleware(rec, &httpaudit.Options{Client: useragent.New(nil).Client})
//
// The User-Agent Client Hints (httpaudit.ClientHints) come first, since
// they name the browser and platform precisely. What they leave out is
// taken from the User-Agent header (see Parse): the OS version, a
// tablet, or everything when, as from Firefox, Safari and scripts, no
// hints are sent. A User-Agent that names a bot wins over hints: the
// result is then that of Parse.
func (p *Parser) Client(h http.Header) httpaudit.Client {
	var ua string
	if v := h["User-Agent"]; len(v) > 0 {
		ua = v[0]
	}
	u := p.Parse(ua)
	c, ok := httpaudit.ClientHints(h)
	if !ok || u.Device == "bot" {
		return u
	}
	if c.Browser == "" {
		c.Browser = u.Browser
	}
	if c.Platform == "" {
		c.Platform, c.OS = u.Platform, u.OS
	} else if u.Platform == c.Platform && len(u.OS) > len(c.OS) && strings.HasPrefix(u.OS, c.OS+" ") {
		c.OS = u.OS // the User-Agent has the version the hints left out
	}
	if u.Device == "tablet" {
		c.Device = u.Device // a tablet sends Sec-CH-UA-Mobile: ?0
	}
	return c
}

// Parse describes the client that sent the User-Agent ua:
//
//   - Browser: the browser and its major version, "Firefox 128",
//     "Chrome 131", "Safari 17"; for a bot or tool, its name and
//     version, "Googlebot 2.1", "curl 8.5".
//   - Platform: the platform under the name client hints give it:
//     "Windows", "macOS", "iOS", "Android", "Linux", "Chrome OS".
//   - OS: the platform with its version where the User-Agent tells it:
//     "iOS 17.5", "Android 14", "Windows 7". Browsers freeze some
//     versions: "Windows NT 10.0" is sent by Windows 10 and 11, "Mac OS
//     X 10_15_7" by every macOS since 10.15, and "Android 10; K" by
//     Chrome on any Android. Those give the platform alone.
//   - Device: "desktop", "mobile", "tablet" or "bot". An Android
//     device whose User-Agent lacks "Mobile" is a tablet. A TV, a
//     console, and a User-Agent the parser does not know give "".
//
// A bot is a crawler (Googlebot, bingbot, anything whose product name
// says bot, spider or crawler), a security scanner (sqlmap, Nikto,
// Nmap, masscan, zgrab, Nuclei and others), a headless browser, or an
// HTTP library or command-line tool (curl, Wget, python-requests,
// Go-http-client, Java, PowerShell and others): anything that is not a
// person's browser or app. For a bot only Browser and Device are set:
// the platform a crawler names is the one it pretends to be.
//
// Empty or unrecognisable input gives the zero Client. Every field is
// printable ASCII and at most activitylog.MaxShortField bytes long.
func (p *Parser) Parse(ua string) httpaudit.Client {
	if ua == "" {
		return httpaudit.Client{}
	}
	if p.cache == nil || len(ua) > maxCachedUA {
		if p.cache == nil {
			p.misses.Add(1)
		}
		return p.parse(ua)
	}
	if c, ok := p.cache.Get(ua); ok {
		return c
	}
	c := p.parse(ua)
	p.cache.Put(strings.Clone(ua), c)
	return c
}

// Stats returns what the Parser has done so far. A User-Agent too long
// to cache is counted in neither Hits nor Misses.
func (p *Parser) Stats() Stats {
	if p.cache == nil {
		return Stats{Misses: p.misses.Load()}
	}
	hits, misses, n := p.cache.Stats()
	return Stats{Hits: hits, Misses: misses, Entries: n}
}

func (p *Parser) parse(ua string) httpaudit.Client {
	if len(ua) > maxParsedUA {
		ua = ua[:maxParsedUA]
	}
	r := p.ua.Parse(ua)
	if name, ok := botName(ua, r.IsBot()); ok {
		return httpaudit.Client{Browser: name, Device: "bot"}
	}
	var c httpaudit.Client
	if b := r.Browser(); b != "" {
		c.Browser = string(b)
		if b == agents.BrowserSamsung {
			c.Browser = "Samsung Internet" // its name, and the brand its hints send
		}
		v := r.BrowserVersion()
		if b == agents.BrowserIE {
			v = ieVersion(ua)
		}
		if m := major(v); m != "" {
			c.Browser += " " + m
		}
	}
	switch r.OS() {
	case agents.OSWindows:
		c.Platform, c.OS = "Windows", windowsName(ua)
	case agents.OSMacOS:
		c.Platform, c.OS = "macOS", versioned("macOS", macVersion(ua))
	case agents.OSIOS:
		c.Platform, c.OS = "iOS", versioned("iOS", iosVersion(ua))
	case agents.OSAndroid:
		c.Platform, c.OS = "Android", versioned("Android", androidVersion(ua))
	case agents.OSLinux:
		c.Platform, c.OS = "Linux", "Linux"
	case agents.OSChromeOS:
		c.Platform, c.OS = "Chrome OS", "Chrome OS"
	case agents.OSOpenBSD:
		c.Platform, c.OS = "OpenBSD", "OpenBSD"
	}
	switch r.Device() {
	case agents.DeviceDesktop:
		c.Device = "desktop"
	case agents.DeviceMobile:
		c.Device = "mobile"
		if r.OS() == agents.OSAndroid && !strings.Contains(ua, "Mobile") {
			c.Device = "tablet"
		}
	case agents.DeviceTablet:
		c.Device = "tablet"
	}
	return c
}

// major returns the digits of version v before its first dot, or "".
func major(v string) string {
	n := 0
	for n < len(v) && n < 6 && v[n] >= '0' && v[n] <= '9' {
		n++
	}
	return v[:n]
}

// versioned returns name, with version v when there is one.
func versioned(name, v string) string {
	if v == "" {
		return name
	}
	return name + " " + v
}

// after returns what follows the first marker in ua, or false.
func after(ua, marker string) (string, bool) {
	i := strings.Index(ua, marker)
	if i < 0 {
		return "", false
	}
	return ua[i+len(marker):], true
}

// version reads a version at the start of s whose parts are separated
// by sep ("17_5_1", "6.0.1") and returns its major and minor parts
// joined by a dot, leaving out a minor of 0: "17.5", "6".
func version(s string, sep byte) string {
	maj := major(s)
	if maj == "" {
		return ""
	}
	rest := s[len(maj):]
	if len(rest) < 2 || rest[0] != sep {
		return maj
	}
	minor := major(rest[1:])
	if minor == "" || strings.Trim(minor, "0") == "" {
		return maj
	}
	return maj + "." + minor
}

func windowsName(ua string) string {
	s, ok := after(ua, "Windows NT ")
	if !ok {
		return "Windows"
	}
	switch {
	case strings.HasPrefix(s, "6.3"):
		return "Windows 8.1"
	case strings.HasPrefix(s, "6.2"):
		return "Windows 8"
	case strings.HasPrefix(s, "6.1"):
		return "Windows 7"
	case strings.HasPrefix(s, "6.0"):
		return "Windows Vista"
	case strings.HasPrefix(s, "5.1"), strings.HasPrefix(s, "5.2"):
		return "Windows XP"
	}
	return "Windows" // 10.0 is Windows 10 or 11
}

func macVersion(ua string) string {
	s, ok := after(ua, "Mac OS X ")
	if !ok {
		return ""
	}
	sep := byte('_')
	if len(s) > 2 && strings.IndexByte(s[:min(len(s), 6)], '.') >= 0 {
		sep = '.'
	}
	v := version(s, sep)
	if v == "10.15" {
		return "" // frozen since macOS 11
	}
	return v
}

func iosVersion(ua string) string {
	for _, m := range [...]string{"iPhone OS ", "CPU OS "} {
		if s, ok := after(ua, m); ok {
			return version(s, '_')
		}
	}
	return ""
}

func androidVersion(ua string) string {
	s, ok := after(ua, "Android ")
	if !ok {
		return ""
	}
	if strings.HasPrefix(s, "10; K)") {
		return "" // Chrome's reduced User-Agent, sent on any version
	}
	return version(s, '.')
}

// ieVersion reads Internet Explorer's version: "MSIE 10.0", or "rv:11.0"
// from IE 11, which no longer says MSIE.
func ieVersion(ua string) string {
	if s, ok := after(ua, "MSIE "); ok {
		return major(s)
	}
	if s, ok := after(ua, "rv:"); ok {
		return major(s)
	}
	return ""
}

// knownBots maps the lower-case product names of tools and bots that no
// generic rule catches to the names they are given.
var knownBots = map[string]string{
	// Security scanners.
	"sqlmap": "sqlmap", "nikto": "Nikto", "nmap": "Nmap", "masscan": "masscan",
	"zgrab": "zgrab", "nuclei": "Nuclei", "wpscan": "WPScan", "gobuster": "gobuster",
	"dirbuster": "DirBuster", "feroxbuster": "feroxbuster", "nessus": "Nessus",
	"openvas": "OpenVAS", "acunetix": "Acunetix", "netsparker": "Netsparker",
	"w3af": "w3af", "whatweb": "WhatWeb", "zmeu": "ZmEu", "censysinspect": "CensysInspect",
	"ffuf": "ffuf", "hydra": "Hydra", "jaeles": "Jaeles", "arachni": "Arachni",
	// HTTP libraries and command-line tools.
	"curl": "curl", "wget": "Wget", "python-requests": "python-requests",
	"python-urllib": "Python-urllib", "python-httpx": "python-httpx", "aiohttp": "aiohttp",
	"go-http-client": "Go-http-client", "java": "Java", "apache-httpclient": "Apache-HttpClient",
	"libwww-perl": "libwww-perl", "httpie": "HTTPie", "postmanruntime": "PostmanRuntime",
	"insomnia": "Insomnia", "axios": "axios", "node-fetch": "node-fetch", "undici": "undici",
	"guzzlehttp": "GuzzleHttp", "scrapy": "Scrapy", "httpclient": "HttpClient",
	"windowspowershell": "WindowsPowerShell", "powershell": "PowerShell",
	"headlesschrome": "HeadlessChrome", "phantomjs": "PhantomJS",
	// Crawlers and previewers without "bot" in their names.
	"slurp": "Slurp", "facebookexternalhit": "facebookexternalhit",
	"facebookcatalog": "facebookcatalog", "mediapartners-google": "Mediapartners-Google",
	"google-inspectiontool": "Google-InspectionTool", "feedfetcher-google": "Feedfetcher-Google",
	"ia_archiver": "ia_archiver", "linkcheck": "LinkCheck",
}

// browserTokens are product names that real browsers send; they never
// name a bot.
var browserTokens = map[string]bool{
	"mozilla": true, "applewebkit": true, "chrome": true, "safari": true, "gecko": true,
	"firefox": true, "version": true, "mobile": true, "build": true, "khtml": true,
	"edg": true, "edge": true, "opr": true, "crios": true, "fxios": true, "trident": true,
}

// botName reports whether ua is a bot's, and gives its name with the
// major and minor version of its product token when it has one.
// medamaBot is what the library found.
//
// The User-Agent is read as a list of product tokens, each a name or
// name/version. The first token whose name is in knownBots, or that has
// a version and a name holding "bot", "spider" or "crawl", names the
// bot. (A device model such as "CUBOT X30" has no version.) When only
// the library saw a bot, the first such name without a version names
// it, else the first name/version token that is not a browser's.
func botName(ua string, medamaBot bool) (string, bool) {
	var name, weak, fallback string
	forEachProduct(ua, func(tok, ver string, lower []byte) bool {
		if n, ok := knownBots[string(lower)]; ok {
			name = withVersion(n, ver)
			return false
		}
		generic := bytes.Contains(lower, []byte("bot")) || bytes.Contains(lower, []byte("spider")) ||
			bytes.Contains(lower, []byte("crawl"))
		switch {
		case ver == "" || !isDigit(ver[0]):
			if generic && weak == "" {
				weak = tok
			}
		case generic:
			name = withVersion(tok, ver)
			return false
		case fallback == "" && !browserTokens[string(lower)]:
			fallback = withVersion(tok, ver)
		}
		return true
	})
	switch {
	case name != "":
		return name, true
	case !medamaBot:
		return "", false
	case weak != "":
		return weak, true
	}
	return fallback, true
}

// withVersion returns name with the major and minor parts of ver.
func withVersion(name, ver string) string {
	v := version(ver, '.')
	if v == "" {
		return name
	}
	return name + " " + v
}

// forEachProduct calls f with every product token of ua, as name and
// version (the text after "/", which may be empty or not a version), and
// the name in lower case, until f returns false. A name is a letter
// followed by letters, digits and "._-", at most 64 bytes; the lower
// case copy is only valid during the call.
func forEachProduct(ua string, f func(name, ver string, lower []byte) bool) {
	var buf [64]byte
	for i := 0; i < len(ua); {
		if !isLetter(ua[i]) {
			i++
			continue
		}
		start := i
		for i < len(ua) && (isLetter(ua[i]) || isDigit(ua[i]) || ua[i] == '.' || ua[i] == '_' || ua[i] == '-') {
			i++
		}
		name := ua[start:i]
		ver := ""
		if i < len(ua) && ua[i] == '/' {
			j := i + 1
			for j < len(ua) && ua[j] != ' ' && ua[j] != ';' && ua[j] != ')' && ua[j] != '(' && ua[j] != ',' {
				j++
			}
			ver, i = ua[i+1:j], j
		}
		if len(name) > len(buf) {
			continue
		}
		lower := buf[:len(name)]
		for k := 0; k < len(name); k++ {
			c := name[k]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			lower[k] = c
		}
		if !f(name, ver, lower) {
			return
		}
	}
}

func isLetter(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
