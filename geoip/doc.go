// Package geoip locates client addresses with a MaxMind DB (.mmdb) file
// of the City kind (GeoIP2 City, GeoLite2 City, DB-IP City Lite), read
// by github.com/oschwald/maxminddb-golang/v2.
//
// A [Reader] is an [activitylog.Enricher]: given to a Recorder, it fills
// in the location (country, city, coordinates) of every event whose
// request has a remote address and no location yet. The lookup runs in
// the Recorder's batcher, off the request's path:
//
//	geo, err := geoip.Open("/var/lib/GeoIP/GeoLite2-City.mmdb", nil)
//	if err != nil {
//		return err
//	}
//	defer geo.Close()
//	rec := activitylog.NewRecorder(store, &activitylog.Options{Enrichers: []activitylog.Enricher{geo}})
//	defer rec.Shutdown(context.Background())
//
// Close the Reader after the Recorder's Shutdown, so that the events
// still queued are located too (deferred calls run last first, as
// above).
//
// # Without a database
//
// GeoIP is optional. A service that has no database file does not call
// Open, and its events carry no location; an empty path is not a
// reason to fail. Open itself refuses "" with an error naming the
// setting geoip_db, so that a caller that passes it on blindly learns
// why.
//
// # Which addresses
//
// Only public addresses are looked up ([Public]): private, loopback,
// link-local, carrier-grade NAT (100.64.0.0/10), multicast, reserved and
// documentation addresses are not, so no record in the database (a
// vendor's placeholder, a test network) can give them a location. An
// IPv4 address mapped into IPv6 is looked up as IPv4.
//
// # Cost
//
// A Reader keeps a bounded cache of the addresses it has looked up,
// including those it found nothing for ([Options].CacheSize). A cached
// lookup costs a map lookup and no allocation; one that reads the
// database decodes the record's names, which allocates.
package geoip
