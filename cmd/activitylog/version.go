package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/activitylog/activitylog/internal/config"
)

// version, when set at link time (-ldflags "-X main.version=v1.2.3"),
// wins over the build information.
var version string

// versionString returns "activitylog VERSION (commit …, go…)": VERSION
// from the link-time version, else the module version in the build
// information, else "devel".
func versionString() string {
	v := version
	info, ok := debug.ReadBuildInfo()
	if v == "" && ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	if v == "" {
		v = "devel"
	}
	detail := runtime.Version()
	if ok {
		var rev, modified string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if modified == "true" {
				rev += "+dirty"
			}
			detail = "commit " + rev + ", " + detail
		}
	}
	return "activitylog " + v + " (" + detail + ")"
}

func printVersion(_ context.Context, _ config.Config, stdout, _ io.Writer) error {
	_, err := fmt.Fprintln(stdout, versionString())
	return err
}
