package cli

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/gantry-gw/gantry/internal/pki"
)

// runCerts runs a "certs …" or "hybrid …" command line in the current
// directory and returns what it printed.
func runCerts(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var cmd *cobra.Command
	switch args[0] {
	case "certs":
		cmd = newCertsCmd()
	case "hybrid":
		cmd = newHybridCmd()
	default:
		t.Fatalf("no command %q", args[0])
	}
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args[1:])
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	err := cmd.Execute()
	return out.String(), err
}

// loadPair checks the modes of a written pair and loads it.
func loadPair(t *testing.T, certPath, keyPath string) tls.Certificate {
	t.Helper()
	for path, want := range map[string]os.FileMode{certPath: 0o644, keyPath: 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %o, want %o", path, got, want)
		}
	}
	pair, err := pki.LoadKeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// checkExpiry checks that a certificate expires about days days from now.
func checkExpiry(t *testing.T, c *x509.Certificate, days int) {
	t.Helper()
	want := time.Now().AddDate(0, 0, days)
	if d := c.NotAfter.Sub(want); d < -time.Minute || d > time.Minute {
		t.Errorf("%s expires at %s, want about %s (%d days)", c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339), want.UTC().Format(time.RFC3339), days)
	}
}

// checkPinned checks a pinned pair made by `certs pinned` or `hybrid gen_cert`.
func checkPinned(t *testing.T, certPath, keyPath string, days int) {
	t.Helper()
	pair := loadPair(t, certPath, keyPath)
	c := pair.Leaf
	if len(pair.Certificate) != 1 || c.Subject.CommonName != "kong_clustering" || !slices.Equal(c.DNSNames, []string{"kong_clustering"}) || c.IsCA {
		t.Errorf("%d certificates, CN %q, DNS %v, CA %v; want one kong_clustering leaf", len(pair.Certificate), c.Subject.CommonName, c.DNSNames, c.IsCA)
	}
	checkExpiry(t, c, days)
	if err := pki.VerifyDataPlane("shared", []*x509.Certificate{c}, nil)(pair.Certificate, nil); err != nil {
		t.Error(err)
	}
}

// verifyPKI runs the control plane's pki check of a data plane that sends
// rawCerts against the trusted certificates.
func verifyPKI(trusted []*x509.Certificate, rawCerts [][]byte) error {
	return pki.VerifyDataPlane("pki", trusted, nil)(rawCerts, nil)
}

func TestCertsCommands(t *testing.T) {
	issue := func(ca, out string, extra ...string) []string {
		return append([]string{"certs", "issue", "--ca-cert", ca + ".crt", "--ca-key", ca + ".key", "--cert", out + ".crt", "--key", out + ".key"}, extra...)
	}
	tests := []struct {
		name   string
		steps  [][]string
		output []string // in the last step's output
		check  func(t *testing.T)
	}{
		{
			name:   "certs pinned with defaults",
			steps:  [][]string{{"certs", "pinned"}},
			output: []string{"wrote certificate cluster.crt (mode 0644) and private key cluster.key (mode 0600)", "subject: CN=kong_clustering", "expires: ", "(1095 days)"},
			check:  func(t *testing.T) { checkPinned(t, "cluster.crt", "cluster.key", 1095) },
		},
		{
			name:   "certs pinned with files and days",
			steps:  [][]string{{"certs", "pinned", "--cert", "cp.crt", "--key", "cp.key", "--days", "30"}},
			output: []string{"cp.crt", "(30 days)"},
			check:  func(t *testing.T) { checkPinned(t, "cp.crt", "cp.key", 30) },
		},
		{
			name:  "certs pinned --force replaces a pair",
			steps: [][]string{{"certs", "pinned"}, {"certs", "pinned", "--force", "--days", "7"}},
			check: func(t *testing.T) { checkPinned(t, "cluster.crt", "cluster.key", 7) },
		},
		{
			name:   "hybrid gen_cert with defaults",
			steps:  [][]string{{"hybrid", "gen_cert"}},
			output: []string{"wrote certificate cluster.crt"},
			check:  func(t *testing.T) { checkPinned(t, "cluster.crt", "cluster.key", 1095) },
		},
		{
			name:  "hybrid gen_cert with files and -d",
			steps: [][]string{{"hybrid", "gen_cert", "my.crt", "my.key", "-d", "10"}},
			check: func(t *testing.T) { checkPinned(t, "my.crt", "my.key", 10) },
		},
		{
			name:  "hybrid gen_cert with a cert file only",
			steps: [][]string{{"hybrid", "gen_cert", "my.crt", "--days", "2"}},
			check: func(t *testing.T) { checkPinned(t, "my.crt", "cluster.key", 2) },
		},
		{
			name: "CA and a data plane leaf",
			steps: [][]string{
				{"certs", "ca", "--cert", "ca.crt", "--key", "ca.key"},
				issue("ca", "dp", "--dns", "dp-1.example,dp-1"),
			},
			output: []string{"wrote certificate dp.crt", "dns:     dp-1.example, dp-1", "issuer:  CN=Gantry Cluster CA", "(365 days)"},
			check: func(t *testing.T) {
				ca := loadPair(t, "ca.crt", "ca.key")
				if !ca.Leaf.IsCA || ca.Leaf.Subject.CommonName != "Gantry Cluster CA" {
					t.Errorf("CA: IsCA %v, CN %q", ca.Leaf.IsCA, ca.Leaf.Subject.CommonName)
				}
				checkExpiry(t, ca.Leaf, 3650)
				dp := loadPair(t, "dp.crt", "dp.key")
				if len(dp.Certificate) != 1 {
					t.Errorf("dp.crt holds %d certificates; a leaf of a root needs no chain", len(dp.Certificate))
				}
				if dp.Leaf.Subject.CommonName != "dp-1.example" || !slices.Equal(dp.Leaf.DNSNames, []string{"dp-1.example", "dp-1"}) {
					t.Errorf("CN %q, DNS %v", dp.Leaf.Subject.CommonName, dp.Leaf.DNSNames)
				}
				checkExpiry(t, dp.Leaf, 365)
				if err := verifyPKI([]*x509.Certificate{ca.Leaf}, dp.Certificate); err != nil {
					t.Error(err)
				}
			},
		},
		{
			name: "CA with its own name, and a leaf named after a host",
			steps: [][]string{
				{"certs", "ca", "--cert", "ca.crt", "--key", "ca.key", "--cn", "Ops CA", "--days", "100"},
				issue("ca", "cp", "--cn", "cp.example", "--days", "50"),
			},
			check: func(t *testing.T) {
				ca := loadPair(t, "ca.crt", "ca.key")
				checkExpiry(t, ca.Leaf, 100)
				cp := loadPair(t, "cp.crt", "cp.key")
				if !slices.Equal(cp.Leaf.DNSNames, []string{"cp.example"}) {
					t.Errorf("DNS %v, want the common name", cp.Leaf.DNSNames)
				}
				roots := x509.NewCertPool()
				roots.AddCert(ca.Leaf)
				err := pki.VerifyControlPlane("pki", nil, roots, "cp.example", nil)(cp.Certificate, nil)
				if err != nil {
					t.Error(err)
				}
			},
		},
		{
			name: "CA, intermediate and leaf: the leaf's file carries the intermediate",
			steps: [][]string{
				{"certs", "ca", "--cert", "root.crt", "--key", "root.key"},
				issue("root", "inter", "--ca", "--days", "1000"),
				issue("inter", "dp"),
			},
			output: []string{"chain:   followed by 1 issuer certificate(s) in dp.crt", "subject: CN=kong_clustering"},
			check: func(t *testing.T) {
				root := loadPair(t, "root.crt", "root.key").Leaf
				inter := loadPair(t, "inter.crt", "inter.key")
				if !inter.Leaf.IsCA || inter.Leaf.Subject.CommonName != "Gantry Cluster Intermediate CA" || len(inter.Certificate) != 1 {
					t.Errorf("intermediate: IsCA %v, CN %q, %d certificates; want one CA without the root",
						inter.Leaf.IsCA, inter.Leaf.Subject.CommonName, len(inter.Certificate))
				}
				dp := loadPair(t, "dp.crt", "dp.key")
				if len(dp.Certificate) != 2 || !bytes.Equal(dp.Certificate[1], inter.Leaf.Raw) {
					t.Fatalf("dp.crt holds %d certificates, want the leaf and the intermediate", len(dp.Certificate))
				}
				// The seed's three cases, with the files as written.
				if err := verifyPKI([]*x509.Certificate{root}, dp.Certificate); err != nil {
					t.Errorf("trusting the root, leaf and intermediate: %v", err)
				}
				if err := verifyPKI([]*x509.Certificate{root}, dp.Certificate[:1]); err == nil {
					t.Error("trusting the root, the leaf alone was accepted")
				}
				if err := verifyPKI([]*x509.Certificate{inter.Leaf}, dp.Certificate[:1]); err != nil {
					t.Errorf("trusting the intermediate, leaf alone: %v", err)
				}
				if err := verifyPKI([]*x509.Certificate{dp.Leaf}, dp.Certificate[:1]); err != nil {
					t.Errorf("trusting the leaf: %v", err)
				}
			},
		},
		{
			name: "two intermediates: the chain follows the leaf",
			steps: [][]string{
				{"certs", "ca", "--cert", "root.crt", "--key", "root.key"},
				issue("root", "i1", "--ca", "--cn", "I1", "--days", "1000"),
				issue("i1", "i2", "--ca", "--cn", "I2", "--days", "900"),
				issue("i2", "dp", "--cn", "dp-9"),
			},
			output: []string{"followed by 2 issuer certificate(s)"},
			check: func(t *testing.T) {
				root := loadPair(t, "root.crt", "root.key").Leaf
				dp := loadPair(t, "dp.crt", "dp.key")
				var names []string
				for _, der := range dp.Certificate {
					c, err := x509.ParseCertificate(der)
					if err != nil {
						t.Fatal(err)
					}
					names = append(names, c.Subject.CommonName)
				}
				if !slices.Equal(names, []string{"dp-9", "I2", "I1"}) {
					t.Errorf("dp.crt holds %v, want dp-9, I2, I1", names)
				}
				if err := verifyPKI([]*x509.Certificate{root}, dp.Certificate); err != nil {
					t.Error(err)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			var out string
			for _, args := range tc.steps {
				var err error
				if out, err = runCerts(t, args...); err != nil {
					t.Fatalf("%s: %v", strings.Join(args, " "), err)
				}
			}
			for _, want := range tc.output {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			tc.check(t)
		})
	}
}

func TestCertsCommandErrors(t *testing.T) {
	tests := []struct {
		name    string
		setup   [][]string
		args    []string
		wantErr string
		absent  []string // files the failed command must not have written
	}{
		{name: "pinned refuses to overwrite", setup: [][]string{{"certs", "pinned"}}, args: []string{"certs", "pinned"},
			wantErr: "cluster.crt already exists; refusing to overwrite it"},
		{name: "gen_cert refuses to overwrite", setup: [][]string{{"certs", "pinned", "--cert", "x.crt"}}, args: []string{"hybrid", "gen_cert"},
			wantErr: "cluster.key already exists; refusing to overwrite it", absent: []string{"cluster.crt"}},
		{name: "pinned with zero days", args: []string{"certs", "pinned", "--days", "0"},
			wantErr: "days must be at least 1, got 0", absent: []string{"cluster.crt", "cluster.key"}},
		{name: "gen_cert with three files", args: []string{"hybrid", "gen_cert", "a", "b", "c"}, wantErr: "accepts at most 2 arg(s), received 3"},
		{name: "ca without files", args: []string{"certs", "ca"}, wantErr: `required flag(s) "cert", "key" not set`},
		{name: "ca with negative days", args: []string{"certs", "ca", "--cert", "ca.crt", "--key", "ca.key", "--days", "-1"},
			wantErr: "--days must be at least 1, got -1", absent: []string{"ca.crt"}},
		{name: "issue without a CA", args: []string{"certs", "issue", "--cert", "dp.crt", "--key", "dp.key"},
			wantErr: `required flag(s) "ca-cert", "ca-key" not set`},
		{name: "issue from a missing CA", args: []string{"certs", "issue", "--ca-cert", "ca.crt", "--ca-key", "ca.key", "--cert", "dp.crt", "--key", "dp.key"},
			wantErr: "signing CA: ca.crt is not a readable file, inline PEM or base64 PEM: no such file or directory"},
		{name: "issue from a pinned pair", setup: [][]string{{"certs", "pinned"}},
			args:    []string{"certs", "issue", "--ca-cert", "cluster.crt", "--ca-key", "cluster.key", "--cert", "dp.crt", "--key", "dp.key"},
			wantErr: "issuer CN=kong_clustering is not a CA certificate", absent: []string{"dp.crt", "dp.key"}},
		{name: "issue with another CA's key",
			setup:   [][]string{{"certs", "ca", "--cert", "ca.crt", "--key", "ca.key"}, {"certs", "ca", "--cert", "b.crt", "--key", "b.key"}},
			args:    []string{"certs", "issue", "--ca-cert", "ca.crt", "--ca-key", "b.key", "--cert", "dp.crt", "--key", "dp.key"},
			wantErr: "signing CA: private key does not match certificate CN=Gantry Cluster CA"},
		{name: "issue outliving the CA", setup: [][]string{{"certs", "ca", "--cert", "ca.crt", "--key", "ca.key", "--days", "10"}},
			args:    []string{"certs", "issue", "--ca-cert", "ca.crt", "--ca-key", "ca.key", "--cert", "dp.crt", "--key", "dp.key"},
			wantErr: "after its issuer CN=Gantry Cluster CA", absent: []string{"dp.crt", "dp.key"}},
		{name: "unknown subcommand", args: []string{"certs", "bogus"}, wantErr: `unknown command "bogus" for "certs"`},
		{name: "unknown hybrid subcommand", args: []string{"hybrid", "gen_certs"}, wantErr: `unknown command "gen_certs" for "hybrid"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			for _, args := range tc.setup {
				if _, err := runCerts(t, args...); err != nil {
					t.Fatalf("%s: %v", strings.Join(args, " "), err)
				}
			}
			_, err := runCerts(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			}
			for _, f := range tc.absent {
				if _, err := os.Stat(f); err == nil {
					t.Errorf("%s was written", f)
				}
			}
		})
	}
}

func TestIsHostName(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"kong_clustering", true},
		{"cp.example.com", true},
		{"dp-1", true},
		{"", false},
		{"Gantry Cluster CA", false},
		{"a..b", false},
		{"cp.example.", false},
		{strings.Repeat("a", 64), false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := isHostName(tc.in); got != tc.want {
				t.Errorf("isHostName(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
