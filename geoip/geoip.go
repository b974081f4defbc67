package geoip

import (
	"encoding/binary"
	"fmt"
	"github.com/activitylog/activitylog/internal/lru"
	"math/bits"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/activitylog/activitylog"
)

// Options configures Open. The zero value, or nil, means the defaults
// written beside each field.
type Options struct {
	// Language is the language of country and city names, as the
	// database names its locales: "en", "de", "pt-BR", "zh-CN". A name
	// missing in it is taken in its primary language ("pt" for "pt-BR"),
	// then in English, then in the first language, in byte order, that
	// the database has it in. Default: "en".
	Language string

	// CacheSize is how many addresses the Reader remembers the location
	// of (including "no location"). When it is full, the least recently
	// used address is forgotten. Default: 8192. A negative size disables
	// the cache.
	CacheSize int
}

// Reader looks up where IP addresses are, in a MaxMind DB (.mmdb) file
// of the City kind: GeoIP2 City, GeoLite2 City, DB-IP City Lite, or a
// Country database of these families, which gives countries only. Its
// methods may be called from many goroutines at once.
type Reader struct {
	lang   string
	langs  [2]string // lang's primary language, and "en"; "" when the same as one before
	cache  *lru.Cache[netip.Addr, result]
	closed atomic.Bool
	misses atomic.Uint64 // database reads, when there is no cache
	errors atomic.Uint64

	mu sync.RWMutex // Close takes it to write; reads of db take it to read
	db *maxminddb.Reader
}

var _ activitylog.Enricher = (*Reader)(nil)

// Stats counts the work a Reader has done. Addresses that are not
// public are not counted: they are refused before the cache.
type Stats struct {
	Hits    uint64 // lookups answered from the cache
	Misses  uint64 // lookups that read the database
	Errors  uint64 // database reads that failed: the record is corrupt or of another schema
	Entries int    // addresses in the cache now
}

type result struct {
	geo activitylog.Geo
	ok  bool
}

// Open opens the database file at path. Close it when done.
//
// A service without a database simply leaves geoip out: it does not
// call Open, and events carry no location. Open itself refuses an empty
// path with a *activitylog.FieldError for the setting "geoip_db". A
// file that is missing, unreadable, not a MaxMind DB, or of a kind that
// holds no locations (an ASN database, say) gives an error naming path.
// The file must not be changed in place while it is open: to update it,
// write a new file, rename it over the old one, and Open that.
func Open(path string, opts *Options) (*Reader, error) {
	if path == "" {
		return nil, activitylog.Invalid("geoip_db", "", "is empty: give the path of a City .mmdb file, or leave geoip out")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Language == "" {
		o.Language = "en"
	}
	if o.CacheSize == 0 {
		o.CacheSize = 8192
	}
	db, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open geoip database %s: %w", path, err)
	}
	if t := db.Metadata.DatabaseType; !hasLocations(t) {
		db.Close()
		return nil, fmt.Errorf("open geoip database %s: its type %q holds no locations; want a City or Country database", path, t)
	}
	r := &Reader{db: db, lang: o.Language}
	if i := strings.IndexByte(o.Language, '-'); i > 0 {
		r.langs[0] = o.Language[:i]
	}
	if o.Language != "en" && r.langs[0] != "en" {
		r.langs[1] = "en"
	}
	r.cache = lru.New[netip.Addr, result](o.CacheSize, hashAddr)
	return r, nil
}

// hasLocations reports whether a database of type t has the City or
// Country schema: "GeoIP2-City", "GeoLite2-Country", "DBIP-City-Lite",
// "GeoIP2-Enterprise" and the like.
func hasLocations(t string) bool {
	t = strings.ToLower(t)
	return strings.Contains(t, "city") || strings.Contains(t, "country") || strings.Contains(t, "enterprise")
}

// Lookup returns where ip is. It reports false when the database has no
// location for ip, and, without reading the database, when ip is not a
// public address (see Public) or the Reader is closed. An IPv4 address
// mapped into IPv6 (::ffff:81.2.69.1) is looked up as IPv4; a zone is
// ignored.
//
// The Geo has the country code (ISO 3166-1) and the country and city
// names in Options.Language. Latitude and longitude are given only with
// a city: for an address the database knows only the country of, the
// coordinates it holds are the middle of that country, which would put
// every such client at one spot on a map.
func (r *Reader) Lookup(ip netip.Addr) (activitylog.Geo, bool) {
	ip = ip.Unmap().WithZone("")
	if !Public(ip) || r.closed.Load() {
		return activitylog.Geo{}, false
	}
	if r.cache == nil {
		r.misses.Add(1)
		res := r.read(ip)
		return res.geo, res.ok
	}
	if res, ok := r.cache.Get(ip); ok {
		return res.geo, res.ok
	}
	res := r.read(ip)
	r.cache.Put(ip, res)
	return res.geo, res.ok
}

// Enrich sets e.Request.Geo from e.Request.RemoteIP, when the event has
// an address, and no location yet, and Lookup finds one. It implements
// activitylog.Enricher:
//
//	rec := activitylog.NewRecorder(store, &activitylog.Options{Enrichers: []activitylog.Enricher{geo}})
func (r *Reader) Enrich(e *activitylog.Event) {
	if e.Request.RemoteIP == "" || e.Request.Geo != (activitylog.Geo{}) {
		return
	}
	ip, err := netip.ParseAddr(e.Request.RemoteIP)
	if err != nil {
		return
	}
	if g, ok := r.Lookup(ip); ok {
		e.Request.Geo = g
	}
}

// Stats returns what the Reader has done so far.
func (r *Reader) Stats() Stats {
	s := Stats{Misses: r.misses.Load(), Errors: r.errors.Load()}
	if r.cache != nil {
		s.Hits, s.Misses, s.Entries = r.cache.Stats()
	}
	return s
}

// Close closes the database. Lookup and Enrich report nothing after it;
// they may still be running when it is called. Closing twice is not an
// error.
func (r *Reader) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.db.Close(); err != nil {
		return fmt.Errorf("close geoip database: %w", err)
	}
	return nil
}

// record is what Reader reads of a City or Country record.
type record struct {
	City struct {
		Names map[string]string `maxminddb:"names"`
	} `maxminddb:"city"`
	Country           country `maxminddb:"country"`
	RegisteredCountry country `maxminddb:"registered_country"`
	Location          struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
}

type country struct {
	ISOCode string            `maxminddb:"iso_code"`
	Names   map[string]string `maxminddb:"names"`
}

func (r *Reader) read(ip netip.Addr) result {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed.Load() || (ip.Is6() && r.db.Metadata.IPVersion == 4) {
		return result{} // an IPv4 database has no IPv6 networks
	}
	var rec record
	if err := r.db.Lookup(ip).Decode(&rec); err != nil {
		r.errors.Add(1)
		return result{}
	}
	c := rec.Country
	if c.ISOCode == "" && len(c.Names) == 0 {
		c = rec.RegisteredCountry // the country the network is registered in
	}
	g := activitylog.Geo{
		CountryCode: clean(c.ISOCode),
		Country:     r.name(c.Names),
		City:        r.name(rec.City.Names),
	}
	if lat, lon := rec.Location.Latitude, rec.Location.Longitude; g.City != "" && lat != nil && lon != nil &&
		*lat >= -90 && *lat <= 90 && *lon >= -180 && *lon <= 180 { // false for NaN too
		g.Lat, g.Lon = *lat, *lon
	}
	return result{geo: g, ok: g != (activitylog.Geo{})}
}

// name returns the name in names in r's language, falling back as
// Options.Language says.
func (r *Reader) name(names map[string]string) string {
	if len(names) == 0 {
		return ""
	}
	if n := clean(names[r.lang]); n != "" {
		return n
	}
	for _, l := range r.langs {
		if l == "" {
			continue
		}
		if n := clean(names[l]); n != "" {
			return n
		}
	}
	first, name := "", ""
	for l, n := range names {
		if n := clean(n); n != "" && (first == "" || l < first) {
			first, name = l, n
		}
	}
	return name
}

// clean returns s as valid UTF-8 without control characters, cut to
// activitylog.MaxShortField bytes: the database is trusted to be a
// database, not to hold only sane text.
func clean(s string) string {
	if len(s) <= activitylog.MaxShortField && utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	if len(s) > activitylog.MaxShortField {
		i := activitylog.MaxShortField
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i]
	}
	return s
}

// Public reports whether ip is an address a client on the internet can
// have, and so one worth looking up. It is false for the invalid, the
// unspecified, loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7),
// link-local (169.254/16, fe80::/10), shared (CGNAT, 100.64/10),
// multicast and reserved (240/4, broadcast) addresses, for those set
// aside for documentation (192.0.2/24, 198.51.100/24, 203.0.113/24,
// 2001:db8::/32, 3fff::/20) and benchmarks (198.18/15, 2001:2::/48),
// and for the other special-purpose ranges of RFC 6890 that are not
// globally reachable. An IPv4 address mapped into IPv6 is judged as
// IPv4.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsLoopback() || ip.IsPrivate() ||
		ip.IsLinkLocalUnicast() || ip.IsMulticast() {
		return false
	}
	special := special6
	if ip.Is4() {
		special = special4
	}
	for _, p := range special {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// Special-purpose ranges that the netip methods Public calls leave out.
var (
	special4 = prefixes(
		"0.0.0.0/8",       // "this network"
		"100.64.0.0/10",   // shared address space, carrier-grade NAT
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation, TEST-NET-1
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation, TEST-NET-2
		"203.0.113.0/24",  // documentation, TEST-NET-3
		"240.0.0.0/4",     // reserved, and the limited broadcast address
	)
	special6 = prefixes(
		"64:ff9b:1::/48", // local-use IPv4/IPv6 translation
		"100::/64",       // discard-only
		"2001:2::/48",    // benchmarking
		"2001:db8::/32",  // documentation
		"3fff::/20",      // documentation
		"5f00::/16",      // segment routing SIDs
		"fec0::/10",      // site-local, deprecated
	)
)

func prefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}

// hashAddr spreads addresses over the cache's shards.
func hashAddr(ip netip.Addr) uint64 {
	b := ip.As16()
	h := (binary.BigEndian.Uint64(b[:8]) ^ bits.RotateLeft64(binary.BigEndian.Uint64(b[8:]), 29)) * 0x9e3779b97f4a7c15
	return h ^ h>>29
}
