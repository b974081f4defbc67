package forward

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
)

// CEF severities (0 to 10) for each event severity.
var cefSeverity = map[activitylog.Severity]int{
	activitylog.SeverityDebug:    1,
	activitylog.SeverityInfo:     3,
	activitylog.SeverityNotice:   4,
	activitylog.SeverityWarning:  6,
	activitylog.SeverityError:    8,
	activitylog.SeverityCritical: 10,
}

// CEFSeverity returns the CEF severity (0 to 10) of an event severity:
// debug 1, info 3, notice 4, warning 6, error 8, critical 10, and 3 for
// an unknown one.
func CEFSeverity(s activitylog.Severity) int {
	if n, ok := cefSeverity[s]; ok {
		return n
	}
	return 3
}

// AppendCEF appends e in ArcSight Common Event Format to b and returns
// the extended slice:
//
//	CEF:0|activitylog|activitylog|<version>|<kind>.<action>|<name>|<severity>|<extension>
//
// name is the event's message, or kind.action when it has none.
// Header fields escape "\" and "|", extension values escape "\" and
// "=", and both write a newline as \n and a carriage return as \r.
// Invalid UTF-8 becomes U+FFFD. The extension keys, in this order, are:
//
//	rt            event time, milliseconds since the epoch
//	externalId    event id
//	cat           kind
//	act           action
//	suid, suser   actor id, actor name (else e-mail)
//	src           client IP (v4 or v6)
//	dhost         request host
//	requestMethod, request   method, path?query
//	requestClientApplication user agent
//	outcome       "failure" for login_failed, blocked, or a status of 400 or more; "success" for another status or auth action
//	cn1Label=httpStatus cn1  response status
//	cs1Label=tenant     cs1  tenant
//	cs2Label=objectType cs2  object type
//	cs3Label=objectId   cs3  object id
//	cs4Label=service    cs4  service
//
// Empty fields are left out.
func AppendCEF(b []byte, e *activitylog.Event, version string) []byte {
	b = append(b, "CEF:0|activitylog|activitylog|"...)
	b = appendCEFHeader(b, version)
	b = append(b, '|')
	b = appendCEFHeader(b, string(e.Kind))
	b = append(b, '.')
	b = appendCEFHeader(b, e.Action)
	b = append(b, '|')
	if e.Message != "" {
		b = appendCEFHeader(b, e.Message)
	} else {
		b = appendCEFHeader(b, string(e.Kind))
		b = append(b, '.')
		b = appendCEFHeader(b, e.Action)
	}
	b = append(b, '|')
	b = strconv.AppendInt(b, int64(CEFSeverity(e.Severity)), 10)
	b = append(b, '|')

	first := true
	ext := func(key, v string) {
		if v == "" {
			return
		}
		if !first {
			b = append(b, ' ')
		}
		first = false
		b = append(b, key...)
		b = append(b, '=')
		b = appendCEFValue(b, v)
	}
	b = append(b, "rt="...)
	b = strconv.AppendInt(b, e.Time.UnixMilli(), 10)
	first = false
	b = append(b, " externalId="...)
	b, _ = e.ID.AppendText(b)
	ext("cat", string(e.Kind))
	ext("act", e.Action)
	ext("suid", e.Actor.ID)
	if e.Actor.Name != "" {
		ext("suser", e.Actor.Name)
	} else {
		ext("suser", e.Actor.Email)
	}
	ext("src", e.Request.RemoteIP)
	ext("dhost", e.Request.Host)
	ext("requestMethod", e.Request.Method)
	if e.Request.Query != "" {
		ext("request", e.Request.Path+"?"+e.Request.Query)
	} else {
		ext("request", e.Request.Path)
	}
	ext("requestClientApplication", e.Request.UserAgent)
	ext("outcome", outcome(e))
	if e.Response.Status != 0 {
		b = append(b, " cn1Label=httpStatus cn1="...)
		b = strconv.AppendInt(b, int64(e.Response.Status), 10)
	}
	if e.Tenant != "" {
		ext("cs1Label", "tenant")
		ext("cs1", e.Tenant)
	}
	if e.Object.Type != "" {
		ext("cs2Label", "objectType")
		ext("cs2", e.Object.Type)
	}
	if e.Object.ID != "" {
		ext("cs3Label", "objectId")
		ext("cs3", e.Object.ID)
	}
	if e.Service != "" {
		ext("cs4Label", "service")
		ext("cs4", e.Service)
	}
	return b
}

// outcome is CEF's outcome: "success", "failure" or "" when unknown.
func outcome(e *activitylog.Event) string {
	if e.Kind == activitylog.KindAuth && (e.Action == "login_failed" || e.Action == "blocked") {
		return "failure"
	}
	if s := e.Response.Status; s != 0 {
		if s >= 400 {
			return "failure"
		}
		return "success"
	}
	if e.Kind == activitylog.KindAuth {
		return "success"
	}
	return ""
}

// appendCEFHeader appends s escaped for a CEF header field: "\" and
// "|" get a backslash, newline and carriage return become \n and \r.
func appendCEFHeader(b []byte, s string) []byte {
	return appendCEFEscaped(b, s, '|')
}

// appendCEFValue appends s escaped for a CEF extension value: "\" and
// "=" get a backslash, newline and carriage return become \n and \r.
func appendCEFValue(b []byte, s string) []byte {
	return appendCEFEscaped(b, s, '=')
}

func appendCEFEscaped(b []byte, s string, special byte) []byte {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		var esc string
		switch c {
		case '\\':
			esc = `\\`
		case '\n':
			esc = `\n`
		case '\r':
			esc = `\r`
		case special:
			esc = `\` + string(special)
		default:
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, esc...)
		start = i + 1
	}
	return append(b, s[start:]...)
}
