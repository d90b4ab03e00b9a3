package cli

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gantry-gw/gantry/internal/pki"
)

// Default lifetimes, in days: Kong's for the pinned pair, ten years for a
// CA, a year for what it signs.
const (
	pinnedDays = 1095
	caDays     = 3650
	issueDays  = 365
)

func newCertsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Make certificates for the cluster link: a pinned pair, a CA, and certificates it signs",
		// An unknown subcommand must fail, not print help with exit code 0.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newCertsPinnedCmd(), newCertsCACmd(), newCertsIssueCmd())
	return cmd
}

// newHybridCmd is Kong's spelling, `kong hybrid gen_cert`, for scripts
// written for Kong.
func newHybridCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hybrid",
		Short: "Kong's hybrid mode helpers (gen_cert)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var days int
	gen := &cobra.Command{
		Use:   "gen_cert [cert_file [key_file]]",
		Short: "Write a pinned certificate pair for cluster_mtls = shared (default cluster.crt and cluster.key), as kong hybrid gen_cert does",
		Args:  cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			certPath, keyPath := "cluster.crt", "cluster.key"
			if len(args) > 0 {
				certPath = args[0]
			}
			if len(args) > 1 {
				keyPath = args[1]
			}
			return writePinned(cmd.OutOrStdout(), certPath, keyPath, days, false)
		},
	}
	gen.Flags().IntVarP(&days, "days", "d", pinnedDays, "days the certificate is valid")
	cmd.AddCommand(gen)
	return cmd
}

func newCertsPinnedCmd() *cobra.Command {
	var certPath, keyPath string
	var days int
	var force bool
	cmd := &cobra.Command{
		Use:   "pinned",
		Short: "Write a pinned certificate pair for cluster_mtls = shared, like kong hybrid gen_cert",
		Long: "Write a self-signed certificate for kong_clustering and its key. In shared mode the control\n" +
			"plane and every data plane use this same pair as cluster_cert and cluster_cert_key.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return writePinned(cmd.OutOrStdout(), certPath, keyPath, days, force)
		},
	}
	cmd.Flags().StringVar(&certPath, "cert", "cluster.crt", "certificate file to write")
	cmd.Flags().StringVar(&keyPath, "key", "cluster.key", "private key file to write")
	cmd.Flags().IntVar(&days, "days", pinnedDays, "days the certificate is valid")
	cmd.Flags().BoolVar(&force, "force", false, "replace existing files")
	return cmd
}

// writePinned makes and writes a pinned pair and says what it wrote.
func writePinned(w io.Writer, certPath, keyPath string, days int, force bool) error {
	kp, err := pki.GeneratePinned(days)
	if err != nil {
		return err
	}
	if err := pki.WriteKeyPair(kp, certPath, keyPath, force); err != nil {
		return err
	}
	report(w, kp, certPath, keyPath, 0)
	return nil
}

func newCertsCACmd() *cobra.Command {
	var certPath, keyPath, cn string
	var days int
	var force bool
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Write a self-signed CA for cluster_mtls = pki (its certificate is cluster_ca_cert)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if days < 1 {
				return fmt.Errorf("--days must be at least 1, got %d", days)
			}
			kp, err := pki.Issue(pki.Template{CommonName: cn, IsCA: true, NotAfter: time.Now().AddDate(0, 0, days)}, nil)
			if err != nil {
				return err
			}
			if err := pki.WriteKeyPair(kp, certPath, keyPath, force); err != nil {
				return err
			}
			report(cmd.OutOrStdout(), kp, certPath, keyPath, 0)
			return nil
		},
	}
	cmd.Flags().StringVar(&certPath, "cert", "", "certificate file to write (required)")
	cmd.Flags().StringVar(&keyPath, "key", "", "private key file to write (required)")
	cmd.Flags().StringVar(&cn, "cn", "Gantry Cluster CA", "common name of the CA")
	cmd.Flags().IntVar(&days, "days", caDays, "days the certificate is valid")
	cmd.Flags().BoolVar(&force, "force", false, "replace existing files")
	requireFlags(cmd, "cert", "key")
	return cmd
}

func newCertsIssueCmd() *cobra.Command {
	var caCert, caKey, certPath, keyPath, cn string
	var dns []string
	var days int
	var isCA, force bool
	cmd := &cobra.Command{
		Use:   "issue",
		Short: "Write a certificate signed by a CA: a node's leaf, or with --ca an intermediate CA",
		Long: "Write a certificate and key signed by the CA in --ca-cert and --ca-key. When that CA is\n" +
			"itself an intermediate, the certificate file holds the new certificate followed by the\n" +
			"CA's chain (without its self-signed root), so a node sends the whole chain.\n" +
			"Without --cn, a leaf's common name is its first --dns name, else kong_clustering; without\n" +
			"--dns, a leaf whose common name is a host name gets it as its DNS name.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if days < 1 {
				return fmt.Errorf("--days must be at least 1, got %d", days)
			}
			issuer, chain, err := loadIssuer(caCert, caKey)
			if err != nil {
				return err
			}
			switch {
			case cn != "":
			case isCA:
				cn = "Gantry Cluster Intermediate CA"
			case len(dns) > 0:
				cn = dns[0]
			default:
				cn = pki.PinnedCommonName
			}
			if len(dns) == 0 && !isCA && isHostName(cn) {
				dns = []string{cn}
			}
			kp, err := pki.Issue(pki.Template{CommonName: cn, DNSNames: dns, IsCA: isCA, NotAfter: time.Now().AddDate(0, 0, days)}, issuer)
			if err != nil {
				return err
			}
			kp.CertPEM = append(kp.CertPEM, chain...)
			if err := pki.WriteKeyPair(kp, certPath, keyPath, force); err != nil {
				return err
			}
			report(cmd.OutOrStdout(), kp, certPath, keyPath, bytes.Count(chain, []byte("-----BEGIN CERTIFICATE-----")))
			return nil
		},
	}
	cmd.Flags().StringVar(&caCert, "ca-cert", "", "certificate of the signing CA, with its chain (required; a path, inline PEM or base64 PEM)")
	cmd.Flags().StringVar(&caKey, "ca-key", "", "private key of the signing CA (required)")
	cmd.Flags().StringVar(&certPath, "cert", "", "certificate file to write (required)")
	cmd.Flags().StringVar(&keyPath, "key", "", "private key file to write (required)")
	cmd.Flags().StringVar(&cn, "cn", "", "common name")
	cmd.Flags().StringSliceVar(&dns, "dns", nil, "DNS names, comma-separated (a control plane's needs cluster_server_name)")
	cmd.Flags().IntVar(&days, "days", issueDays, "days the certificate is valid")
	cmd.Flags().BoolVar(&isCA, "ca", false, "make an intermediate CA instead of a leaf")
	cmd.Flags().BoolVar(&force, "force", false, "replace existing files")
	requireFlags(cmd, "ca-cert", "ca-key", "cert", "key")
	return cmd
}

// requireFlags marks flags as required. It panics on a name the command
// does not define: a bug, which any test of the command finds.
func requireFlags(cmd *cobra.Command, names ...string) {
	for _, n := range names {
		if err := cmd.MarkFlagRequired(n); err != nil {
			panic(err)
		}
	}
}

// loadIssuer reads a signing CA and returns it with the PEM of its chain
// as a new certificate's file should carry it: the CA and the certificates
// after it, except self-signed ones, which the verifying peer must already
// trust. The chain is empty when the CA is a self-signed root.
func loadIssuer(certValue, keyValue string) (*pki.KeyPair, []byte, error) {
	tc, err := pki.LoadKeyPair(certValue, keyValue)
	if err != nil {
		return nil, nil, fmt.Errorf("signing CA: %w", err)
	}
	signer, ok := tc.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("signing CA: a %T cannot sign", tc.PrivateKey)
	}
	var chain []byte
	for _, der := range tc.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, nil, fmt.Errorf("signing CA: %w", err)
		}
		if bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil {
			continue
		}
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return &pki.KeyPair{Cert: tc.Leaf, Key: signer}, chain, nil
}

// isHostName reports whether s can serve as a DNS name: dot-separated
// labels of letters, digits, '-' and '_' (kong_clustering has one).
func isHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// report prints what a command wrote: the files, the certificate's names,
// fingerprint and expiry, and how many chain certificates follow it.
func report(w io.Writer, kp *pki.KeyPair, certPath, keyPath string, chained int) {
	c := kp.Cert
	kind := "certificate"
	if c.IsCA {
		kind = "CA certificate"
	}
	fmt.Fprintf(w, "wrote %s %s (mode 0644) and private key %s (mode 0600)\n", kind, certPath, keyPath)
	if chained > 0 {
		fmt.Fprintf(w, "  chain:   followed by %d issuer certificate(s) in %s\n", chained, certPath)
	}
	fmt.Fprintf(w, "  subject: CN=%s\n", c.Subject.CommonName)
	if len(c.DNSNames) > 0 {
		fmt.Fprintf(w, "  dns:     %s\n", strings.Join(c.DNSNames, ", "))
	}
	if !bytes.Equal(c.RawIssuer, c.RawSubject) {
		fmt.Fprintf(w, "  issuer:  CN=%s\n", c.Issuer.CommonName)
	}
	fmt.Fprintf(w, "  sha256:  %s\n", pki.Fingerprint(c))
	fmt.Fprintf(w, "  expires: %s (%d days)\n", c.NotAfter.UTC().Format(time.RFC3339), int(time.Until(c.NotAfter).Hours()/24+0.5))
}
