//go:build !race

package browser

const raceBuild = false
