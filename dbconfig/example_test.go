package dbconfig_test

import (
	"fmt"
	"strings"

	"github.com/activitylog/activitylog/dbconfig"
)

// A config, its URL, and its password sealed for storage.
func Example() {
	c := dbconfig.Config{
		ID: "dbc_3f9c0a17d2b4e581", Name: "acme", Engine: dbconfig.Postgres,
		Host: "db1.internal", Database: "audit_acme", User: "audit", Password: "p@ss:word",
		Options: map[string]string{"sslmode": "require"}, RouteFor: dbconfig.RouteAll, Tenant: "acme",
		Primary: true, Active: true,
	}
	if err := c.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.URL(""))
	fmt.Println(c.URL(c.Password))

	// Keys come from the configuration, the current one first.
	k1, _ := dbconfig.GenerateKey("k1")
	keys, err := dbconfig.ParseKeyring(k1.String())
	if err != nil {
		fmt.Println(err)
		return
	}
	sealed, _ := keys.Conceal(c)
	fmt.Println(sealed.Password == "", strings.HasPrefix(sealed.Secret, "v1:k1:"))
	opened, _ := keys.Reveal(sealed)
	fmt.Println(opened.Password)
	// Output:
	// postgres://audit@db1.internal:5432/audit_acme?sslmode=require
	// postgres://audit:p%40ss%3Aword@db1.internal:5432/audit_acme?sslmode=require
	// true true
	// p@ss:word
}
