package config

import (
	"strings"
)

// Markdown returns the table of every setting that docs/configuration.md
// holds, made from Settings, so that the docs cannot drift from the
// loader: a test compares the two.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| flag | environment | YAML key | default | commands | meaning |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, s := range Settings {
		def := s.Default()
		if def == "" {
			def = `""`
		}
		flag := "`--" + s.Flag
		if s.Arg != "" {
			flag += " " + s.Arg
		}
		flag = strings.ReplaceAll(flag, "|", `\|`) + "`" // a table cell's pipe, even in code (GFM)
		b.WriteString("| " + flag + " | `" + s.Env + "` | `" + s.Key + "` | `" + def + "` | " +
			strings.Join(s.Commands, ", ") + " | " + strings.ReplaceAll(s.Usage, "|", `\|`) + " |\n")
	}
	return b.String()
}
