package commands

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hoistbuild/hoist/push"
)

// defaultServer is what docker login and logout use without an argument.
const defaultServer = "docker.io"

func newLoginCmd(g *globals) *cobra.Command {
	var rf registryFlags
	var user, password string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "Log in to a registry (credentials go to docker's config.json, or --authfile)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := defaultServer
			if len(args) == 1 {
				server = normalizeServer(args[0])
			}
			if passwordStdin {
				if password != "" {
					return errors.New("--password and --password-stdin are mutually exclusive")
				}
				if user == "" {
					return errors.New("must provide --username with --password-stdin")
				}
				b, err := io.ReadAll(bufio.NewReader(g.stdin))
				if err != nil {
					return fmt.Errorf("reading password: %w", err)
				}
				password = strings.TrimRight(string(b), "\r\n")
			}
			if user == "" || password == "" {
				return errors.New("username and password required (-u USER --password-stdin)")
			}
			rf.quiet = true
			o, done, err := rf.options(g)
			if err != nil {
				return err
			}
			defer done()
			if err := push.Login(cmd.Context(), server, user, password, rf.authFiles()[0], o); err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, "Login Succeeded")
			return nil
		},
	}
	rf.add(cmd.Flags(), false)
	cmd.Flags().StringVarP(&user, "username", "u", "", "username")
	cmd.Flags().StringVarP(&password, "password", "p", "", "password (prefer --password-stdin)")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin")
	return cmd
}

func newLogoutCmd(g *globals) *cobra.Command {
	var rf registryFlags
	cmd := &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Log out from a registry",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := defaultServer
			if len(args) == 1 {
				server = normalizeServer(args[0])
			}
			found, err := push.Logout(server, rf.authFiles()[0])
			if err != nil {
				return err
			}
			if !found {
				fmt.Fprintf(g.stdout, "Not logged in to %s\n", server)
				return nil
			}
			fmt.Fprintf(g.stdout, "Removing login credentials for %s\n", server)
			return nil
		},
	}
	cmd.Flags().StringVar(&rf.authfile, "authfile", "", "credentials file (default $REGISTRY_AUTH_FILE, then docker's config.json)")
	return cmd
}

// normalizeServer accepts docker's spellings of a server: a URL or a bare host.
func normalizeServer(s string) string {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	s, _, _ = strings.Cut(s, "/")
	return s
}
