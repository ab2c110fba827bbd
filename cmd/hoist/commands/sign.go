package commands

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hoistbuild/hoist/push"
	"github.com/hoistbuild/hoist/push/sign"
	"github.com/hoistbuild/hoist/store"
)

// cosignFlags are the flags sign and verify share: cosign's names for the key, the annotations and
// an insecure registry, plus hoist's registry flags.
type cosignFlags struct {
	rf            registryFlags
	key           string
	annotations   []string
	allowInsecure bool
}

func (cf *cosignFlags) add(fs *pflag.FlagSet, keyHelp string) {
	cf.rf.add(fs, false)
	fs.StringVar(&cf.key, "key", "", keyHelp)
	fs.StringArrayVarP(&cf.annotations, "annotations", "a", nil, "KEY=VALUE annotation in the payload's optional section (repeatable)")
	fs.BoolVar(&cf.allowInsecure, "allow-insecure-registry", false, "cosign's name for --tls-verify=false")
}

// setup checks --key, parses the reference and the annotations and builds the registry options.
func (cf *cosignFlags) setup(g *globals, arg string) (ref name.Reference, ann map[string]string, o push.Options, err error) {
	if cf.key == "" {
		return nil, nil, o, flagError(errors.New("--key is required (hoist signs and verifies with key files only)"))
	}
	if strings.Contains(cf.key, "://") {
		return nil, nil, o, flagError(fmt.Errorf("--key %s: only key files are supported (no KMS, env:// or k8s:// keys)", cf.key))
	}
	if len(cf.rf.mirrors) > 0 {
		return nil, nil, o, flagError(errors.New("--registry-mirror: signatures are read from and written to the image's own registry, never a mirror"))
	}
	if os.Getenv("COSIGN_REPOSITORY") != "" {
		return nil, nil, o, flagError(errors.New("COSIGN_REPOSITORY is set: hoist keeps signatures in the image's repository only"))
	}
	if ref, err = store.ParseName(arg); err != nil {
		return nil, nil, o, fmt.Errorf("invalid reference %q: %w", arg, err)
	}
	if ann, err = sign.ParseAnnotations(cf.annotations); err != nil {
		return nil, nil, o, flagError(fmt.Errorf("-a: %w", err))
	}
	cf.rf.quiet = true
	if cf.allowInsecure {
		cf.rf.tlsVerify = false
	}
	o, _, err = cf.rf.options(g)
	return ref, ann, o, err
}

func newGenerateKeyPairCmd(g *globals) *cobra.Command {
	var prefix string
	var force bool
	cmd := &cobra.Command{
		Use:     "generate-key-pair [--output-key-prefix PREFIX] [--force]",
		Short:   "Write a key pair for hoist sign and cosign (cosign.key, cosign.pub)",
		Long:    generateKeyPairLong,
		Example: generateKeyPairExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			password, err := keyPassword(g, true)
			if err != nil {
				return err
			}
			kp, err := sign.GenerateKeyPair(password)
			if err != nil {
				return err
			}
			keyPath, pubPath, err := sign.WriteKeyPair(kp, prefix, force)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "Private key written to %s\nPublic key written to %s\n", keyPath, pubPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&prefix, "output-key-prefix", "cosign", "name of the key files: PREFIX.key and PREFIX.pub")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "overwrite existing key files (cosign asks instead)")
	return cmd
}

func newSignCmd(g *globals) *cobra.Command {
	var cf cosignFlags
	var tlogUpload, yes bool
	cmd := &cobra.Command{
		Use:     "sign --key cosign.key [OPTIONS] IMAGE",
		Short:   "Sign an image in a registry (cosign's signature format, no transparency log)",
		Long:    signLong,
		Example: signExample,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tlogUpload {
				return flagError(errors.New("--tlog-upload: hoist signs offline and has no transparency log; leave it false"))
			}
			return runSign(cmd, g, &cf, args[0])
		},
	}
	cf.add(cmd.Flags(), "private key file (cosign.key from hoist or cosign generate-key-pair)")
	cmd.Flags().BoolVar(&tlogUpload, "tlog-upload", false, "upload to a transparency log: not supported, must stay false")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "accepted for cosign's command lines: hoist never asks for confirmation")
	return cmd
}

func runSign(cmd *cobra.Command, g *globals, cf *cosignFlags, arg string) error {
	ref, ann, o, err := cf.setup(g, arg)
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(cf.key)
	if err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	password, err := keyPassword(g, false)
	if err != nil {
		return err
	}
	key, err := sign.ParsePrivateKey(keyPEM, password)
	if err != nil {
		return fmt.Errorf("--key %s: %w", cf.key, err)
	}
	s, err := sign.Sign(cmd.Context(), ref, key, ann, o)
	if err != nil {
		return err
	}
	if _, byDigest := ref.(name.Digest); !byDigest {
		fmt.Fprintf(g.stderr, "WARNING: Image reference %s uses a tag, not a digest, to identify the image to sign: signed %s, what it points at now\n", arg, s.Image.DigestStr())
	}
	if !s.Added {
		fmt.Fprintf(g.stderr, "%s already has this signature (same key, same payload): nothing pushed\n", s.Tag)
		return nil
	}
	fmt.Fprintf(g.stderr, "Pushing signature to: %s\n", s.Tag.Context())
	return nil
}

func newVerifyCmd(g *globals) *cobra.Command {
	var cf cosignFlags
	var ignoreTlog, checkClaims bool
	cmd := &cobra.Command{
		Use:     "verify --key cosign.pub [OPTIONS] IMAGE",
		Short:   "Verify an image's cosign signatures in a registry with a public key",
		Long:    verifyLong,
		Example: verifyExample,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !ignoreTlog || !checkClaims {
				return flagError(errors.New("--insecure-ignore-tlog=false and --check-claims=false are not supported: hoist has no transparency log and always checks the claims"))
			}
			return runVerify(cmd, g, &cf, args[0])
		},
	}
	cf.add(cmd.Flags(), "public key file (cosign.pub)")
	cmd.Flags().BoolVar(&ignoreTlog, "insecure-ignore-tlog", true, "accepted for cosign's command lines: hoist never checks a transparency log")
	cmd.Flags().BoolVar(&checkClaims, "check-claims", true, "accepted for cosign's command lines: the claims are always checked")
	return cmd
}

func runVerify(cmd *cobra.Command, g *globals, cf *cosignFlags, arg string) error {
	ref, ann, o, err := cf.setup(g, arg)
	if err != nil {
		return err
	}
	pemBytes, err := os.ReadFile(cf.key)
	if err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	pub, err := sign.ParsePublicKey(pemBytes)
	if err != nil {
		return fmt.Errorf("--key %s: %w", cf.key, err)
	}
	v, err := sign.Verify(cmd.Context(), ref, pub, ann, o)
	if err != nil {
		return err
	}
	return sign.Report(g.stdout, g.stderr, ref.Name(), v, len(ann) > 0)
}

// keyPassword is the private key's password as cosign gets it: $COSIGN_PASSWORD when set (even
// empty), else a prompt without echo on a terminal (twice when confirm), else all of stdin as is.
func keyPassword(g *globals, confirm bool) ([]byte, error) {
	if pw, ok := os.LookupEnv("COSIGN_PASSWORD"); ok {
		return []byte(pw), nil
	}
	term, ok := g.stdin.(*os.File)
	if !ok || !isTerminal(term) {
		return io.ReadAll(g.stdin)
	}
	in := bufio.NewReader(term)
	pw, err := promptPassword(term, in, g.stderr, "Enter password for private key: ")
	if err != nil || !confirm {
		return []byte(pw), err
	}
	again, err := promptPassword(term, in, g.stderr, "Enter password for private key again: ")
	if err != nil {
		return nil, err
	}
	if again != pw {
		return nil, errors.New("passwords do not match")
	}
	return []byte(pw), nil
}
