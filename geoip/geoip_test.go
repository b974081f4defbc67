package geoip_test

import (
	"context"
	"errors"
	"io/fs"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/geoip"
)

func names(kv ...string) mmdbtype.Map {
	m := mmdbtype.Map{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[mmdbtype.String(kv[i])] = mmdbtype.String(kv[i+1])
	}
	return m
}

func place(iso string, n mmdbtype.Map) mmdbtype.Map {
	m := mmdbtype.Map{"names": n}
	if iso != "" {
		m["iso_code"] = mmdbtype.String(iso)
	}
	return m
}

func location(lat, lon float64) mmdbtype.Map {
	return mmdbtype.Map{"latitude": mmdbtype.Float64(lat), "longitude": mmdbtype.Float64(lon), "accuracy_radius": mmdbtype.Uint16(5)}
}

var (
	gb = place("GB", names("en", "United Kingdom", "de", "Vereinigtes Königreich", "pt-BR", "Reino Unido"))
	de = place("DE", names("en", "Germany", "de", "Deutschland"))
)

// testDB writes a small City database to a temporary directory and
// returns its path. Reserved networks are filled too, so that a test
// can tell the Reader refusing an address from the database not having
// it.
func testDB(tb testing.TB, dbType string) string {
	tb.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            dbType,
		Languages:               []string{"en", "de", "pt-BR", "ja", "zh-CN"},
		IncludeReservedNetworks: true,
		RecordSize:              28,
	})
	if err != nil {
		tb.Fatal(err)
	}
	reserved := mmdbtype.Map{"country": place("XX", names("en", "Reserved")), "city": mmdbtype.Map{"names": names("en", "Nowhere")}}
	for cidr, rec := range map[string]mmdbtype.Map{
		// A city with coordinates.
		"81.2.69.0/24": {"city": mmdbtype.Map{"names": names("en", "London", "de", "London")}, "country": gb, "location": location(51.5142, -0.0931)},
		// IPv6, with the city named in German.
		"2a01:4f8::/32": {"city": mmdbtype.Map{"names": names("en", "Nuremberg", "de", "Nürnberg")}, "country": de, "location": location(49.4478, 11.0683)},
		// A country only, with its middle as location.
		"89.160.20.0/24": {"country": place("SE", names("en", "Sweden")), "location": location(62, 15)},
		// A country with no location at all, just past 172.16.0.0/12.
		"172.32.0.0/16": {"country": place("US", names("en", "United States"))},
		// Names in neither the language asked for nor English.
		"175.16.199.0/24": {"city": mmdbtype.Map{"names": names("zh-CN", "长春", "ja", "長春市")}, "country": place("CN", names("ja", "中国"))},
		// Only the registered country.
		"1.1.1.0/24": {"registered_country": place("AU", names("en", "Australia"))},
		// A latitude out of range and control characters in a name.
		"1.2.3.0/24": {"city": mmdbtype.Map{"names": names("en", "Bad\x00City\u0085")}, "country": gb, "location": location(1000, 10)},
		// Coordinates that are not numbers.
		"1.2.5.0/24": {"city": mmdbtype.Map{"names": names("en", "London")}, "country": gb, "location": location(math.NaN(), math.Inf(1))},
		// A record of another schema: Decode fails.
		"6.6.6.0/24": {"country": mmdbtype.String("not a map")},
		// A record with nothing Reader reads.
		"7.7.7.0/24": {"autonomous_system_number": mmdbtype.Uint32(64500)},
		// Addresses that are not public; the Reader must not look them up.
		"10.0.0.0/8": reserved, "100.64.0.0/10": reserved, "172.16.0.0/12": reserved, "192.168.0.0/16": reserved,
		"127.0.0.0/8": reserved, "169.254.0.0/16": reserved, "192.0.2.0/24": reserved, "198.18.0.0/15": reserved,
		"0.0.0.0/8": reserved, "240.0.0.0/4": reserved, "224.0.0.0/4": reserved,
		"2001:db8::/32": reserved, "fc00::/7": reserved, "fe80::/10": reserved, "ff00::/8": reserved, "100::/64": reserved,
	} {
		_, network, err := net.ParseCIDR(cidr)
		if err != nil {
			tb.Fatal(err)
		}
		if err := tree.Insert(network, rec); err != nil {
			tb.Fatalf("insert %s: %v", cidr, err)
		}
	}
	path := filepath.Join(tb.TempDir(), "city.mmdb")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

func open(tb testing.TB, opts *geoip.Options) *geoip.Reader {
	tb.Helper()
	r, err := geoip.Open(testDB(tb, "GeoIP2-City"), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close() })
	return r
}

var (
	london    = activitylog.Geo{Country: "United Kingdom", CountryCode: "GB", City: "London", Lat: 51.5142, Lon: -0.0931}
	nuremberg = activitylog.Geo{Country: "Germany", CountryCode: "DE", City: "Nuremberg", Lat: 49.4478, Lon: 11.0683}
)

func TestLookup(t *testing.T) {
	t.Parallel()
	r := open(t, nil)
	for _, tc := range []struct {
		name string
		ip   string
		want activitylog.Geo
		ok   bool
	}{
		{"city", "81.2.69.142", london, true},
		{"mapped ipv4", "::ffff:81.2.69.142", london, true},
		{"ipv6", "2a01:4f8:c17:b8f::2", nuremberg, true},
		{"ipv6 with zone", "2a01:4f8::1%eth0", nuremberg, true},
		{"country only: no coordinates", "89.160.20.112", activitylog.Geo{Country: "Sweden", CountryCode: "SE"}, true},
		{"country without location", "172.32.0.1", activitylog.Geo{Country: "United States", CountryCode: "US"}, true},
		{"names in another language", "175.16.199.1", activitylog.Geo{Country: "中国", CountryCode: "CN", City: "長春市"}, true},
		{"registered country", "1.1.1.1", activitylog.Geo{Country: "Australia", CountryCode: "AU"}, true},
		{"bad latitude and name", "1.2.3.4", activitylog.Geo{Country: "United Kingdom", CountryCode: "GB", City: "BadCity"}, true},
		{"coordinates not numbers", "1.2.5.1", activitylog.Geo{Country: "United Kingdom", CountryCode: "GB", City: "London"}, true},
		{"not in the database", "8.8.8.8", activitylog.Geo{}, false},
		{"ipv6 not in the database", "2606:4700::1111", activitylog.Geo{}, false},
		{"record without location fields", "7.7.7.7", activitylog.Geo{}, false},
		{"record of another schema", "6.6.6.6", activitylog.Geo{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := r.Lookup(netip.MustParseAddr(tc.ip))
			if got != tc.want || ok != tc.ok {
				t.Errorf("Lookup(%s) = %+v, %v; want %+v, %v", tc.ip, got, ok, tc.want, tc.ok)
			}
		})
	}
	if s := r.Stats(); s.Errors != 1 {
		t.Errorf("Stats().Errors = %d, want 1 (the record of another schema)", s.Errors)
	}
}

// Every address here has a record in the test database; the Reader must
// refuse it before looking.
func TestLookupNotPublic(t *testing.T) {
	t.Parallel()
	r := open(t, nil)
	for _, ip := range []string{
		"10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"100.64.1.1", "100.127.255.255", "127.0.0.1", "169.254.169.254", "0.0.0.0", "0.1.2.3",
		"192.0.2.1", "198.18.0.1", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
		"::ffff:10.0.0.1", "::ffff:100.64.1.1", "::ffff:127.0.0.1",
		"::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "fe80::1%eth0", "ff02::1", "2001:db8::1", "100::1",
	} {
		if g, ok := r.Lookup(netip.MustParseAddr(ip)); ok || g != (activitylog.Geo{}) {
			t.Errorf("Lookup(%s) = %+v, %v; want nothing", ip, g, ok)
		}
	}
	if g, ok := r.Lookup(netip.Addr{}); ok || g != (activitylog.Geo{}) {
		t.Errorf("Lookup(invalid) = %+v, %v", g, ok)
	}
	if s := r.Stats(); s != (geoip.Stats{}) {
		t.Errorf("addresses that are not public reached the cache or the database: %+v", s)
	}
}

func TestPublic(t *testing.T) {
	t.Parallel()
	for ip, want := range map[string]bool{
		"81.2.69.142": true, "8.8.8.8": true, "172.15.255.255": true, "172.32.0.1": true, "100.63.255.255": true,
		"100.128.0.1": true, "192.0.3.1": true, "198.20.0.1": true, "223.255.255.255": true, "::ffff:81.2.69.142": true,
		"2a01:4f8::1": true, "2001::1": true /* Teredo */, "2001:db9::1": true, "2606:4700::1111": true,
		"172.31.255.255": false, "172.16.0.0": false, "100.64.0.0": false, "100.127.255.255": false, "::ffff:10.0.0.1": false,
		"198.51.100.7": false, "203.0.113.9": false, "192.0.0.8": false, "3fff::1": false, "2001:2::1": false,
		"fec0::1": false, "64:ff9b:1::1": false, "ff05::2": false,
	} {
		if got := geoip.Public(netip.MustParseAddr(ip)); got != want {
			t.Errorf("Public(%s) = %v, want %v", ip, got, want)
		}
	}
}

func TestLanguage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		lang, ip string
		country  string
		city     string
	}{
		{"de", "81.2.69.1", "Vereinigtes Königreich", "London"},
		{"de", "2a01:4f8::1", "Deutschland", "Nürnberg"},
		{"de-AT", "2a01:4f8::1", "Deutschland", "Nürnberg"}, // the primary language
		{"pt-BR", "81.2.69.1", "Reino Unido", "London"},     // city falls back to English
		{"fr", "81.2.69.1", "United Kingdom", "London"},     // English
		{"fr", "175.16.199.1", "中国", "長春市"},                 // the first language in byte order: ja < zh-CN
		{"zh-CN", "175.16.199.1", "中国", "长春"},
	} {
		r := open(t, &geoip.Options{Language: tc.lang})
		g, _ := r.Lookup(netip.MustParseAddr(tc.ip))
		if g.Country != tc.country || g.City != tc.city {
			t.Errorf("language %s, %s: %q, %q; want %q, %q", tc.lang, tc.ip, g.Country, g.City, tc.country, tc.city)
		}
	}
}

func TestCache(t *testing.T) {
	t.Parallel()
	r := open(t, &geoip.Options{CacheSize: 2})
	look := func(ip string) {
		t.Helper()
		r.Lookup(netip.MustParseAddr(ip))
	}
	look("81.2.69.1")         // miss
	look("::ffff:81.2.69.1")  // hit: the same address
	look("8.8.8.8")           // miss; "not found" is cached too
	look("8.8.8.8")           // hit
	look("81.2.69.1")         // hit; 8.8.8.8 is now the least recently used
	look("2a01:4f8::1")       // miss, evicts 8.8.8.8
	look("8.8.8.8")           // miss
	look("10.0.0.1")          // not counted
	look("2a01:4f8::1%wlan0") // hit: the zone is ignored
	if got, want := r.Stats(), (geoip.Stats{Hits: 4, Misses: 4, Entries: 2}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	if g, _ := r.Lookup(netip.MustParseAddr("81.2.69.1")); g != london {
		t.Errorf("cached lookup = %+v", g)
	}
}

func TestCacheDisabled(t *testing.T) {
	t.Parallel()
	r := open(t, &geoip.Options{CacheSize: -1})
	for range 3 {
		if g, ok := r.Lookup(netip.MustParseAddr("81.2.69.1")); !ok || g != london {
			t.Fatalf("Lookup = %+v, %v", g, ok)
		}
	}
	if got, want := r.Stats(), (geoip.Stats{Misses: 3}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestEnrich(t *testing.T) {
	t.Parallel()
	r := open(t, nil)
	paris := activitylog.Geo{Country: "France", CountryCode: "FR", City: "Paris"}
	for _, tc := range []struct {
		name string
		in   activitylog.Request
		want activitylog.Geo
	}{
		{"fills", activitylog.Request{RemoteIP: "81.2.69.142"}, london},
		{"leaves an existing geo", activitylog.Request{RemoteIP: "81.2.69.142", Geo: paris}, paris},
		{"leaves a partial geo", activitylog.Request{RemoteIP: "81.2.69.142", Geo: activitylog.Geo{CountryCode: "FR"}}, activitylog.Geo{CountryCode: "FR"}},
		{"no address", activitylog.Request{}, activitylog.Geo{}},
		{"not an address", activitylog.Request{RemoteIP: "shop.example"}, activitylog.Geo{}},
		{"private address", activitylog.Request{RemoteIP: "192.168.0.10"}, activitylog.Geo{}},
		{"unknown address", activitylog.Request{RemoteIP: "8.8.4.4"}, activitylog.Geo{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := activitylog.Event{Kind: activitylog.KindRequest, Request: tc.in}
			r.Enrich(&e)
			if e.Request.Geo != tc.want {
				t.Errorf("Geo = %+v, want %+v", e.Request.Geo, tc.want)
			}
			if e.Request.RemoteIP != tc.in.RemoteIP {
				t.Errorf("RemoteIP = %q, want %q", e.Request.RemoteIP, tc.in.RemoteIP)
			}
		})
	}
}

// Many goroutines share one Reader, its cache and the database. Run
// with -race.
func TestConcurrentLookup(t *testing.T) {
	t.Parallel()
	r := open(t, &geoip.Options{CacheSize: 600}) // sharded, and small enough to evict
	want := map[netip.Addr]activitylog.Geo{
		netip.MustParseAddr("81.2.69.142"): london,
		netip.MustParseAddr("2a01:4f8::1"): nuremberg,
		netip.MustParseAddr("8.8.8.8"):     {},
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				ip := netip.AddrFrom4([4]byte{81, 2, 69, byte(i)})
				if i%2 == 0 {
					for a := range want {
						ip = a
						break
					}
				}
				got, _ := r.Lookup(ip)
				w, known := want[ip]
				if known && got != w {
					t.Errorf("goroutine %d: Lookup(%s) = %+v, want %+v", g, ip, got, w)
					return
				}
				if !known && got.City != "London" {
					t.Errorf("goroutine %d: Lookup(%s) = %+v", g, ip, got)
					return
				}
			}
		})
	}
	wg.Wait()
	s := r.Stats()
	if s.Entries > 600 || s.Hits+s.Misses != 8*1000 {
		t.Errorf("Stats = %+v", s)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	r, err := geoip.Open(testDB(t, "GeoLite2-City"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("81.2.69.142")
	if _, ok := r.Lookup(ip); !ok {
		t.Fatal("Lookup before Close found nothing")
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range 200 {
				r.Lookup(netip.AddrFrom4([4]byte{81, 2, 69, byte(i)}))
			}
		})
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if g, ok := r.Lookup(ip); ok {
		t.Errorf("Lookup after Close = %+v", g)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	_, err := geoip.Open("", nil)
	var fe *activitylog.FieldError
	if !errors.As(err, &fe) || fe.Field != "geoip_db" || !errors.Is(err, activitylog.ErrInvalid) {
		t.Errorf(`Open("") = %v; want a FieldError for geoip_db`, err)
	}

	missing := filepath.Join(dir, "missing.mmdb")
	if _, err := geoip.Open(missing, nil); err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Open(missing) = %v; want fs.ErrNotExist naming the path", err)
	}

	for name, content := range map[string]string{
		"empty.mmdb":   "",
		"corrupt.mmdb": strings.Repeat("\x00\xffnot a database", 100),
		"truncated.mmdb": func() string {
			b, err := os.ReadFile(testDB(t, "GeoIP2-City"))
			if err != nil {
				t.Fatal(err)
			}
			return string(b[len(b)-200:]) // the metadata, without the tree
		}(),
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if r, err := geoip.Open(path, nil); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("Open(%s) = %v; want an error naming the path", name, err)
			if r != nil {
				r.Close()
			}
		}
	}

	asn := testDB(t, "GeoLite2-ASN")
	if _, err := geoip.Open(asn, nil); err == nil || !strings.Contains(err.Error(), asn) || !strings.Contains(err.Error(), "GeoLite2-ASN") {
		t.Errorf("Open(ASN database) = %v; want an error naming the path and type", err)
	}

	if _, err := geoip.Open(dir, nil); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("Open(directory) = %v; want an error naming the path", err)
	}
}

// The Reader is an Enricher of a Recorder: the written event has the
// location of its address.
func TestRecorderEnricher(t *testing.T) {
	t.Parallel()
	r := open(t, nil)
	w := &collect{}
	rec := activitylog.NewRecorder(w, &activitylog.Options{Mode: activitylog.Sync, Enrichers: []activitylog.Enricher{r}})
	err := rec.Record(t.Context(), activitylog.Event{
		Kind: activitylog.KindAuth, Action: "login",
		Request: activitylog.Request{RemoteIP: "81.2.69.142"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.events) != 1 || w.events[0].Request.Geo != london {
		t.Errorf("written events: %+v", w.events)
	}
}

type collect struct {
	mu     sync.Mutex
	events []activitylog.Event
}

func (c *collect) Write(_ context.Context, events []activitylog.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, events...)
	return nil
}

// The Readers are warmed up before timing: the first read of a
// database allocates the decoder's string table (72 KiB), once.
func BenchmarkLookup(b *testing.B) {
	ips := []netip.Addr{
		netip.MustParseAddr("81.2.69.142"), netip.MustParseAddr("2a01:4f8::1"),
		netip.MustParseAddr("89.160.20.112"), netip.MustParseAddr("8.8.8.8"),
	}
	warm := func(r *geoip.Reader) *geoip.Reader {
		for _, ip := range ips {
			r.Lookup(ip)
		}
		return r
	}
	b.Run("uncached", func(b *testing.B) {
		r := warm(open(b, &geoip.Options{CacheSize: -1}))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			r.Lookup(ips[i%len(ips)])
			i++
		}
	})
	b.Run("cached", func(b *testing.B) {
		r := warm(open(b, nil))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			r.Lookup(ips[i%len(ips)])
			i++
		}
	})
	b.Run("cached-parallel", func(b *testing.B) {
		r := warm(open(b, nil))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				r.Lookup(ips[i%len(ips)])
				i++
			}
		})
	})
	b.Run("not-public", func(b *testing.B) {
		r := open(b, nil)
		ip := netip.MustParseAddr("10.1.2.3")
		b.ReportAllocs()
		for b.Loop() {
			r.Lookup(ip)
		}
	})
}

// BenchmarkEnrich is the Recorder's cost per event, cache warm.
func BenchmarkEnrich(b *testing.B) {
	r := open(b, nil)
	r.Lookup(netip.MustParseAddr("81.2.69.142"))
	b.ReportAllocs()
	for b.Loop() {
		e := activitylog.Event{Request: activitylog.Request{RemoteIP: "81.2.69.142"}}
		r.Enrich(&e)
	}
}

// An IPv4-only database has nothing for IPv6 addresses, and that is not
// an error.
func TestIPv4Database(t *testing.T) {
	t.Parallel()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "DBIP-City-Lite", IPVersion: 4, RecordSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	_, network, _ := net.ParseCIDR("81.2.69.0/24")
	if err := tree.Insert(network, mmdbtype.Map{"country": gb}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "v4.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r, err := geoip.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if g, ok := r.Lookup(netip.MustParseAddr("::ffff:81.2.69.1")); !ok || g.CountryCode != "GB" {
		t.Errorf("IPv4 lookup = %+v, %v", g, ok)
	}
	if _, ok := r.Lookup(netip.MustParseAddr("2a01:4f8::1")); ok {
		t.Error("IPv6 lookup found something")
	}
	if s := r.Stats(); s.Errors != 0 {
		t.Errorf("Stats = %+v, want no errors", s)
	}
}
