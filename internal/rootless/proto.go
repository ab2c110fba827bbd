package rootless

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// The protocol between a client and the server, one JSON message per packet (SOCK_SEQPACKET):
//
//	client: request   + descriptors: the executable, stdin, stdout, stderr
//	server: started   {"pid": N}  or {"error": "..."}
//	client: signal    {"signal": N}   (any number of times)
//	server: exited    {"exit": N}     (the status a shell would see: 128+signal when killed)
//
// The client closing the connection before "exited" kills the command (a killed hoist process takes
// its work with it, as it would without the namespace). Version is checked by the server: a client
// of another protocol version gets an error telling the user to stop the old server.
const protoVersion = 1

type request struct {
	Version int      `json:"version"`
	Args    []string `json:"args"` // argv, argv[0] included
	Env     []string `json:"env"`
	Dir     string   `json:"dir"`
}

type reply struct {
	Pid    int    `json:"pid,omitempty"`
	Error  string `json:"error,omitempty"`
	Exit   *int   `json:"exit,omitempty"`
	Signal int    `json:"signal,omitempty"`
	Errno  int    `json:"errno,omitempty"` // with Error: the errno behind it (a port in use)
}

// maxPacket bounds one message; a request carries the whole environment.
const maxPacket = 1 << 20

func send(c *net.UnixConn, v any, files ...*os.File) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > maxPacket {
		return fmt.Errorf("message of %d bytes exceeds %d", len(b), maxPacket)
	}
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	_, _, err = c.WriteMsgUnix(b, oob, nil)
	return err
}

// recv reads one message into v and returns the descriptors it carried (close-on-exec).
func recv(c *net.UnixConn, v any) ([]*os.File, error) {
	b := make([]byte, maxPacket)
	oob := make([]byte, unix.CmsgSpace(8*4))
	n, oobn, flags, _, err := c.ReadMsgUnix(b, oob)
	if err != nil {
		return nil, err
	}
	var files []*os.File
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			fds, err := unix.ParseUnixRights(&m)
			if err != nil {
				return nil, err
			}
			for _, fd := range fds {
				unix.CloseOnExec(fd)
				files = append(files, os.NewFile(uintptr(fd), "fd"))
			}
		}
	}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		closeAll(files)
		return nil, errors.New("truncated message")
	}
	if n == 0 {
		closeAll(files)
		return nil, errEOF
	}
	if err := json.Unmarshal(b[:n], v); err != nil {
		closeAll(files)
		return nil, fmt.Errorf("bad message: %w", err)
	}
	return files, nil
}

var errEOF = errors.New("connection closed")

func closeAll(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}
