package useragent_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/httpaudit"
	"github.com/activitylog/activitylog/useragent"
)

// Real User-Agents, as browsers and tools sent them in 2024.
const (
	chromeWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	chromeMac     = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	chromeAndroid = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
	chromeTablet  = "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	safariIPhone  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	safariIPad    = "Mozilla/5.0 (iPad; CPU OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	safariMac     = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/14.1.2 Safari/605.1.15"
	firefoxLinux  = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	firefoxUbuntu = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	firefoxPhone  = "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0"
	firefoxTablet = "Mozilla/5.0 (Android 14; Tablet; rv:133.0) Gecko/133.0 Firefox/133.0"
	edgeWindows   = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
	ie11          = "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko"
	samsung       = "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36"
	googlebot     = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	googlebotSP   = "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.204 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	bingbot       = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36"
	baidu         = "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)"
	adsbot        = "AdsBot-Google (+http://www.google.com/adsbot.html)"
	headless      = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36"
	curl          = "curl/8.5.0"
	wget          = "Wget/1.21.4"
	pyRequests    = "python-requests/2.32.3"
	goClient      = "Go-http-client/1.1"
	sqlmap        = "sqlmap/1.8.4#stable (https://sqlmap.org)"
	nikto         = "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:Port Check)"
	nmap          = "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)"
	masscan       = "masscan/1.3 (https://github.com/robertdavidgraham/masscan)"
	cubot         = "Mozilla/5.0 (Linux; Android 12; Cubot X30 Build/SP1A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
)

func TestParse(t *testing.T) {
	t.Parallel()
	p := useragent.New(nil)
	for _, tc := range []struct {
		name, ua string
		want     httpaudit.Client
	}{
		{"chrome windows", chromeWindows, httpaudit.Client{Browser: "Chrome 131", Platform: "Windows", OS: "Windows", Device: "desktop"}},
		{"chrome mac, frozen version", chromeMac, httpaudit.Client{Browser: "Chrome 131", Platform: "macOS", OS: "macOS", Device: "desktop"}},
		{"chrome android, reduced", chromeAndroid, httpaudit.Client{Browser: "Chrome 131", Platform: "Android", OS: "Android", Device: "mobile"}},
		{"chrome android tablet", chromeTablet, httpaudit.Client{Browser: "Chrome 131", Platform: "Android", OS: "Android 14", Device: "tablet"}},
		{"safari iphone", safariIPhone, httpaudit.Client{Browser: "Safari 17", Platform: "iOS", OS: "iOS 17.5", Device: "mobile"}},
		{"safari ipad", safariIPad, httpaudit.Client{Browser: "Safari 17", Platform: "iOS", OS: "iOS 17.5", Device: "tablet"}},
		{"safari mac 10.14", safariMac, httpaudit.Client{Browser: "Safari 14", Platform: "macOS", OS: "macOS 10.14", Device: "desktop"}},
		{"firefox linux", firefoxLinux, httpaudit.Client{Browser: "Firefox 128", Platform: "Linux", OS: "Linux", Device: "desktop"}},
		{"firefox ubuntu", firefoxUbuntu, httpaudit.Client{Browser: "Firefox 133", Platform: "Linux", OS: "Linux", Device: "desktop"}},
		{"firefox android phone", firefoxPhone, httpaudit.Client{Browser: "Firefox 133", Platform: "Android", OS: "Android 14", Device: "mobile"}},
		{"firefox android tablet", firefoxTablet, httpaudit.Client{Browser: "Firefox 133", Platform: "Android", OS: "Android 14", Device: "tablet"}},
		{"edge", edgeWindows, httpaudit.Client{Browser: "Edge 131", Platform: "Windows", OS: "Windows", Device: "desktop"}},
		{"ie 11 on windows 7", ie11, httpaudit.Client{Browser: "IE 11", Platform: "Windows", OS: "Windows 7", Device: "desktop"}},
		{"samsung internet", samsung, httpaudit.Client{Browser: "Samsung Internet 26", Platform: "Android", OS: "Android 14", Device: "mobile"}},
		{"device model with bot in it", cubot, httpaudit.Client{Browser: "Chrome 131", Platform: "Android", OS: "Android 12", Device: "mobile"}},
		{"googlebot", googlebot, httpaudit.Client{Browser: "Googlebot 2.1", Device: "bot"}},
		{"googlebot smartphone", googlebotSP, httpaudit.Client{Browser: "Googlebot 2.1", Device: "bot"}},
		{"bingbot", bingbot, httpaudit.Client{Browser: "bingbot 2", Device: "bot"}},
		{"baiduspider", baidu, httpaudit.Client{Browser: "Baiduspider 2", Device: "bot"}},
		{"adsbot without version", adsbot, httpaudit.Client{Browser: "AdsBot-Google", Device: "bot"}},
		{"headless chrome", headless, httpaudit.Client{Browser: "HeadlessChrome 131", Device: "bot"}},
		{"curl", curl, httpaudit.Client{Browser: "curl 8.5", Device: "bot"}},
		{"wget", wget, httpaudit.Client{Browser: "Wget 1.21", Device: "bot"}},
		{"python-requests", pyRequests, httpaudit.Client{Browser: "python-requests 2.32", Device: "bot"}},
		{"go", goClient, httpaudit.Client{Browser: "Go-http-client 1.1", Device: "bot"}},
		{"sqlmap", sqlmap, httpaudit.Client{Browser: "sqlmap 1.8", Device: "bot"}},
		{"nikto", nikto, httpaudit.Client{Browser: "Nikto 2.5", Device: "bot"}},
		{"nmap", nmap, httpaudit.Client{Browser: "Nmap", Device: "bot"}},
		{"masscan", masscan, httpaudit.Client{Browser: "masscan 1.3", Device: "bot"}},
		{"empty", "", httpaudit.Client{}},
		{"garbage", "garbage", httpaudit.Client{}},
		{"binary", "\x00\xff\xfe(;/", httpaudit.Client{}},
		{"slashes", "/////", httpaudit.Client{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := p.Parse(tc.ua); got != tc.want {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tc.ua, got, tc.want)
			}
		})
	}
}

func TestClient(t *testing.T) {
	t.Parallel()
	p := useragent.New(nil)
	const chromeHints = `"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"`
	for _, tc := range []struct {
		name string
		h    http.Header
		want httpaudit.Client
	}{
		{
			name: "no hints: the user agent",
			h:    http.Header{"User-Agent": {firefoxLinux}},
			want: httpaudit.Client{Browser: "Firefox 128", Platform: "Linux", OS: "Linux", Device: "desktop"},
		},
		{
			name: "hints win, the user agent adds nothing it cannot tell",
			h: http.Header{"User-Agent": {chromeWindows}, "Sec-Ch-Ua": {chromeHints},
				"Sec-Ch-Ua-Mobile": {"?0"}, "Sec-Ch-Ua-Platform": {`"Windows"`}, "Sec-Ch-Ua-Platform-Version": {`"15.0.0"`}},
			want: httpaudit.Client{Browser: "Chrome 131", Platform: "Windows", OS: "Windows 11", Device: "desktop"},
		},
		{
			name: "brave hides behind chrome in the user agent",
			h: http.Header{"User-Agent": {chromeMac}, "Sec-Ch-Ua": {`"Brave";v="131", "Chromium";v="131", "Not_A Brand";v="24"`},
				"Sec-Ch-Ua-Mobile": {"?0"}, "Sec-Ch-Ua-Platform": {`"macOS"`}},
			want: httpaudit.Client{Browser: "Brave 131", Platform: "macOS", OS: "macOS", Device: "desktop"},
		},
		{
			name: "the user agent adds the os version",
			h: http.Header{"User-Agent": {samsung}, "Sec-Ch-Ua": {`"Samsung Internet";v="26.0", "Chromium";v="122", "Not(A:Brand";v="24"`},
				"Sec-Ch-Ua-Mobile": {"?1"}, "Sec-Ch-Ua-Platform": {`"Android"`}},
			want: httpaudit.Client{Browser: "Samsung Internet 26", Platform: "Android", OS: "Android 14", Device: "mobile"},
		},
		{
			name: "the user agent tells a tablet",
			h: http.Header{"User-Agent": {chromeTablet}, "Sec-Ch-Ua": {chromeHints},
				"Sec-Ch-Ua-Mobile": {"?0"}, "Sec-Ch-Ua-Platform": {`"Android"`}},
			want: httpaudit.Client{Browser: "Chrome 131", Platform: "Android", OS: "Android 14", Device: "tablet"},
		},
		{
			name: "hints without a brand",
			h:    http.Header{"User-Agent": {edgeWindows}, "Sec-Ch-Ua-Mobile": {"?0"}},
			want: httpaudit.Client{Browser: "Edge 131", Platform: "Windows", OS: "Windows", Device: "desktop"},
		},
		{
			name: "a bot wins over hints",
			h: http.Header{"User-Agent": {headless}, "Sec-Ch-Ua": {`"HeadlessChrome";v="131", "Chromium";v="131"`},
				"Sec-Ch-Ua-Platform": {`"Linux"`}},
			want: httpaudit.Client{Browser: "HeadlessChrome 131", Device: "bot"},
		},
		{
			name: "hints without a user agent",
			h:    http.Header{"Sec-Ch-Ua": {chromeHints}, "Sec-Ch-Ua-Platform": {`"Linux"`}},
			want: httpaudit.Client{Browser: "Chrome 131", Platform: "Linux", OS: "Linux", Device: "desktop"},
		},
		{name: "nothing", h: http.Header{}},
		{name: "nil", h: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := p.Client(tc.h); got != tc.want {
				t.Errorf("Client\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// Client has the shape of httpaudit.Options.Client.
var _ = httpaudit.Options{Client: useragent.New(nil).Client}

func TestCache(t *testing.T) {
	t.Parallel()
	p := useragent.New(&useragent.Options{CacheSize: 2})
	p.Parse(curl)
	p.Parse(curl)
	p.Parse(wget)
	p.Parse(curl)       // hit; wget is now the least recently used
	p.Parse(pyRequests) // evicts wget
	p.Parse(wget)       // miss again
	p.Parse("")         // not looked up
	if got, want := p.Stats(), (useragent.Stats{Hits: 2, Misses: 4, Entries: 2}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	long := "Mozilla/5.0 (" + strings.Repeat("x", 2000) + ") curl/8.5.0"
	if got := p.Parse(long); got.Device != "bot" {
		t.Errorf("long user agent: %+v", got)
	}
	if got := p.Stats(); got.Hits != 2 || got.Misses != 4 {
		t.Errorf("a user agent too long to cache was counted: %+v", got)
	}
}

func TestCacheDisabled(t *testing.T) {
	t.Parallel()
	p := useragent.New(&useragent.Options{CacheSize: -1})
	for range 3 {
		if got := p.Parse(curl); got.Browser != "curl 8.5" {
			t.Fatalf("Parse = %+v", got)
		}
	}
	if got, want := p.Stats(), (useragent.Stats{Misses: 3}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

// The cache stays within its size, and agrees with a fresh parse, when
// many goroutines share it. Run with -race.
func TestCacheConcurrent(t *testing.T) {
	t.Parallel()
	const size = 600 // sharded
	p := useragent.New(&useragent.Options{CacheSize: size})
	fresh := useragent.New(&useragent.Options{CacheSize: -1})
	uas := []string{chromeWindows, safariIPhone, firefoxLinux, googlebot, curl, sqlmap}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				ua := uas[(g+i)%len(uas)]
				if i%3 == 0 {
					ua = fmt.Sprintf("curl/%d.%d", g, i) // distinct ones push out old ones
				}
				if got, want := p.Parse(ua), fresh.Parse(ua); got != want {
					t.Errorf("Parse(%q) = %+v, want %+v", ua, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	if s := p.Stats(); s.Entries > size || s.Hits+s.Misses != 8*500 {
		t.Errorf("Stats = %+v: more than %d entries, or lookups lost", s, size)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{chromeWindows, safariIPad, firefoxTablet, ie11, googlebotSP, bingbot, sqlmap, nikto, nmap,
		"", "garbage", "\x00\xff", "Mozilla/5.0 (Windows NT ", "Android ", "Mac OS X 10_", "rv:", "a/", "Xbot/9"} {
		f.Add(s, `"Chromium";v="1"`, "?1")
	}
	p := useragent.New(&useragent.Options{CacheSize: 64})
	f.Fuzz(func(t *testing.T, ua, brands, mobile string) {
		got := p.Parse(ua)
		if again := p.Parse(ua); again != got {
			t.Fatalf("cached %+v, parsed %+v", again, got)
		}
		c := p.Client(http.Header{"User-Agent": {ua}, "Sec-Ch-Ua": {brands}, "Sec-Ch-Ua-Mobile": {mobile}})
		for _, c := range []httpaudit.Client{got, c} {
			switch c.Device {
			case "", "desktop", "mobile", "tablet", "bot":
			default:
				t.Fatalf("device %q", c.Device)
			}
			for _, f := range []string{c.Browser, c.Platform, c.OS, c.Device} {
				if len(f) > activitylog.MaxShortField || !utf8.ValidString(f) {
					t.Fatalf("field %q too long or not UTF-8", f)
				}
				for i := 0; i < len(f); i++ {
					if f[i] < 0x20 || f[i] >= 0x7f {
						t.Fatalf("field %q has byte %#x", f, f[i])
					}
				}
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	uas := []string{chromeWindows, safariIPhone, firefoxLinux, edgeWindows, googlebot, curl}
	b.Run("cold", func(b *testing.B) {
		p := useragent.New(&useragent.Options{CacheSize: -1})
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p.Parse(uas[i%len(uas)])
			i++
		}
	})
	warm := func(p *useragent.Parser) *useragent.Parser {
		for _, ua := range uas {
			p.Parse(ua)
		}
		return p
	}
	b.Run("warm", func(b *testing.B) {
		p := warm(useragent.New(nil))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p.Parse(uas[i%len(uas)])
			i++
		}
	})
	b.Run("warm-parallel", func(b *testing.B) {
		p := warm(useragent.New(nil))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				p.Parse(uas[i%len(uas)])
				i++
			}
		})
	})
}

// BenchmarkClient is the middleware's cost per request: Chrome's
// low-entropy hints and User-Agent, cache warm.
func BenchmarkClient(b *testing.B) {
	p := useragent.New(nil)
	p.Parse(chromeWindows)
	h := http.Header{
		"User-Agent":         {chromeWindows},
		"Sec-Ch-Ua":          {`"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"`},
		"Sec-Ch-Ua-Mobile":   {"?0"},
		"Sec-Ch-Ua-Platform": {`"Windows"`},
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Client(h)
	}
}
