package commands

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hoistbuild/hoist/push"
)

// defaultServer is what docker login and logout use without an argument.
const defaultServer = "docker.io"

// loginCredentials completes the username and password of login: the password from stdin with
// --password-stdin, else a prompt on a terminal for what is missing (docker's rules).
func loginCredentials(g *globals, user, password string, passwordStdin bool) (string, string, error) {
	if passwordStdin {
		if password != "" {
			return "", "", errors.New("--password and --password-stdin are mutually exclusive")
		}
		if user == "" {
			return "", "", errors.New("must provide --username with --password-stdin")
		}
		b, err := io.ReadAll(bufio.NewReader(g.stdin))
		if err != nil {
			return "", "", fmt.Errorf("reading password: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	if user == "" || password == "" {
		return promptLogin(g, user)
	}
	return user, password, nil
}

func newLoginCmd(g *globals) *cobra.Command {
	var rf registryFlags
	var user, password string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:     "login [OPTIONS] [SERVER]",
		Short:   "Log in to a registry (credentials go to docker's config.json, or --authfile)",
		Long:    loginLong,
		Example: loginExample,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := defaultServer
			if len(args) == 1 {
				server = normalizeServer(args[0])
			}
			var err error
			if user, password, err = loginCredentials(g, user, password, passwordStdin); err != nil {
				return err
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
		Use:     "logout [SERVER]",
		Short:   "Log out from a registry",
		Long:    logoutLong,
		Example: logoutExample,
		Args:    cobra.MaximumNArgs(1),
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

// promptLogin asks for what -u and -p did not give, on the terminal, as docker login does: Username
// (the default in brackets), then Password without echo.
func promptLogin(g *globals, user string) (string, string, error) {
	term, ok := g.stdin.(*os.File)
	if !ok || !isTerminal(term) {
		return "", "", errors.New("cannot perform an interactive login from a non TTY device")
	}
	in := bufio.NewReader(term)
	if user == "" {
		u, err := promptLine(in, g.stdout, "Username: ")
		if err != nil {
			return "", "", err
		}
		user = strings.TrimSpace(u)
	}
	if user == "" {
		return "", "", errors.New("username is required")
	}
	password, err := promptPassword(term, in, g.stdout, "Password: ")
	if err != nil {
		return "", "", err
	}
	if password == "" {
		return "", "", errors.New("password is required")
	}
	return user, password, nil
}

// normalizeServer accepts docker's spellings of a server: a URL or a bare host.
func normalizeServer(s string) string {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	s, _, _ = strings.Cut(s, "/")
	return s
}
