package httpaudit

// Client is what the request headers tell about the client. The
// middleware copies it into activitylog.Request's Browser, Platform, OS
// and Device fields. Every field is free text, at most
// activitylog.MaxShortField bytes; "" means unknown.
type Client struct {
	Browser  string // e.g. "Chrome 131", "Firefox 128", "curl 8.5"
	Platform string // the platform as client hints name it, e.g. "macOS", "Android"
	OS       string // e.g. "Windows 10", "iOS 17.5", "Linux"
	Device   string // "desktop", "mobile", "tablet", "bot" or "" when unknown
}
