package browser

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/chromedp/chromedp"
)

// axeSource is axe-core's dist file, vendored from the npm registry by
// testdata/update-axe.sh (version in testdata/AXE_VERSION; licence MPL-2.0,
// testdata/LICENSE-axe-core.txt). Only test binaries link this package.
//
//go:embed testdata/axe.min.js
var axeSource string

// Violation is one axe-core rule that the page breaks.
type Violation struct {
	ID      string          `json:"id"`
	Impact  string          `json:"impact"` // "serious" or "critical"
	Help    string          `json:"help"`
	HelpURL string          `json:"helpUrl"`
	Nodes   []ViolationNode `json:"nodes"`
}

// ViolationNode is one element that breaks a rule.
type ViolationNode struct {
	Target         []string `json:"target"` // CSS selectors of the element
	HTML           string   `json:"html"`
	FailureSummary string   `json:"failureSummary"`
}

// String describes the violation and the elements that break it.
func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s", v.ID, v.Impact, v.Help)
	for i, n := range v.Nodes {
		if i == 5 {
			fmt.Fprintf(&b, "\n    … and %d more", len(v.Nodes)-i)
			break
		}
		fmt.Fprintf(&b, "\n    %s %s", strings.Join(n.Target, " "), n.HTML)
		if n.FailureSummary != "" {
			fmt.Fprintf(&b, "\n      %s", strings.ReplaceAll(n.FailureSummary, "\n", "\n      "))
		}
	}
	return b.String()
}

// Axe runs the axe-core accessibility engine on the page of the chromedp
// context ctx (see [Browser.Context]) and returns the violations of impact
// serious or critical. include, when given, limits the check to the elements
// matching those CSS selectors. The engine is injected through the DevTools
// protocol, so it runs under a strict Content-Security-Policy too.
func Axe(ctx context.Context, include ...string) ([]Violation, error) {
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === "object"`))
	if err != nil {
		return nil, fmt.Errorf("check axe: %w", err)
	}
	if !loaded {
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](axeSource+"\n;undefined")); err != nil {
			return nil, fmt.Errorf("inject axe: %w", err)
		}
	}
	context := "document"
	if len(include) > 0 {
		sel := make([][]string, len(include))
		for i, s := range include {
			sel[i] = []string{s}
		}
		q, _ := json.Marshal(map[string]any{"include": sel})
		context = string(q)
	}
	script := fmt.Sprintf(`axe.run(%s, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations))`, context)
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](script, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("run axe: %w", err)
	}
	var all []Violation
	if err := json.Unmarshal([]byte(raw), &all); err != nil {
		return nil, fmt.Errorf("decode axe result: %w", err)
	}
	var out []Violation
	for _, v := range all {
		if v.Impact == "serious" || v.Impact == "critical" {
			out = append(out, v)
		}
	}
	return out, nil
}
