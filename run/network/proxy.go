package network

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hoistbuild/hoist/internal/rootless"
)

// Port is a published port.
type Port struct {
	HostIP   string
	HostPort int // 0 on input: any free port
	// HostPortEnd > HostPort on input: the first port of HostPort..HostPortEnd
	// that can be bound.
	HostPortEnd   int
	ContainerPort int
	Proto         string // tcp, udp
}

// ErrPortInUse is returned when a host port cannot be bound.
var ErrPortInUse = errors.New("port is already allocated")

// Proxy forwards published host ports to a container address.
type Proxy struct {
	closers []io.Closer
	wg      sync.WaitGroup
}

// Publish binds every port (resolving 0 to a free port, and a range to its
// first port that can be bound) and forwards connections to ctrIP. It
// returns the ports as bound (HostPortEnd 0). On error nothing stays bound.
func Publish(ports []Port, ctrIP string) (*Proxy, []Port, error) {
	p := &Proxy{}
	var out []Port
	for _, pt := range ports {
		hostIP := pt.HostIP
		if hostIP == "" {
			hostIP = "0.0.0.0"
		}
		target := net.JoinHostPort(ctrIP, strconv.Itoa(pt.ContainerPort))
		last := max(pt.HostPort, pt.HostPortEnd)
		var bound int
		var err error
		for hp := pt.HostPort; hp <= last; hp++ {
			bound, err = p.listen(net.JoinHostPort(hostIP, strconv.Itoa(hp)), pt.Proto, target)
			if !errors.Is(err, syscall.EADDRINUSE) {
				break
			}
		}
		if err != nil {
			p.Close()
			addr := net.JoinHostPort(hostIP, strconv.Itoa(pt.HostPort))
			if last > pt.HostPort {
				addr = fmt.Sprintf("%s-%d", addr, last)
			}
			return nil, nil, bindError(addr, pt.Proto, err)
		}
		pt.HostIP, pt.HostPort, pt.HostPortEnd = hostIP, bound, 0
		out = append(out, pt)
	}
	return p, out, nil
}

// listen binds addr and forwards what arrives to target; it returns the
// bound port.
func (p *Proxy) listen(addr, proto, target string) (int, error) {
	if proto == "udp" {
		c, err := listenUDP(addr)
		if err != nil {
			return 0, err
		}
		p.closers = append(p.closers, c)
		p.wg.Add(1)
		go func() { defer p.wg.Done(); serveUDP(c.(*net.UDPConn), target) }()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := listenTCP(addr)
	if err != nil {
		return 0, err
	}
	p.closers = append(p.closers, l)
	p.wg.Add(1)
	go func() { defer p.wg.Done(); serveTCP(l, target) }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// listenTCP and listenUDP bind a published port on the host. A rootless hoist's network namespace
// is not the host's: the port helper binds it there and hands the socket in (rootless.BindHost).
func listenTCP(addr string) (net.Listener, error) {
	if !rootless.Active() {
		return net.Listen("tcp4", addr)
	}
	f, err := rootless.BindHost("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return net.FileListener(f)
}

func listenUDP(addr string) (net.PacketConn, error) {
	if !rootless.Active() {
		return net.ListenPacket("udp4", addr)
	}
	f, err := rootless.BindHost("udp", addr)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return net.FilePacketConn(f)
}

func bindError(addr, proto string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("driver failed programming external connectivity: Bind for %s/%s failed: %w", addr, proto, ErrPortInUse)
	}
	return fmt.Errorf("publishing %s/%s: %w", addr, proto, err)
}

// Close stops listening and waits for the accept loops to end.
func (p *Proxy) Close() {
	if p == nil {
		return
	}
	for _, c := range p.closers {
		c.Close()
	}
	p.wg.Wait()
}

func serveTCP(l net.Listener, target string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			u, err := net.DialTimeout("tcp4", target, 5*time.Second)
			if err != nil {
				return
			}
			defer u.Close()
			done := make(chan struct{})
			go func() {
				_, _ = io.Copy(u, c)
				u.(*net.TCPConn).CloseWrite()
				close(done)
			}()
			_, _ = io.Copy(c, u)
			c.(*net.TCPConn).CloseWrite()
			<-done
		}()
	}
}

func serveUDP(c *net.UDPConn, target string) {
	var mu sync.Mutex
	peers := map[string]*net.UDPConn{}
	buf := make([]byte, 65535)
	for {
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			mu.Lock()
			for _, u := range peers {
				u.Close()
			}
			mu.Unlock()
			return
		}
		mu.Lock()
		u, ok := peers[from.String()]
		if !ok {
			raddr, err := net.ResolveUDPAddr("udp4", target)
			if err == nil {
				u, err = net.DialUDP("udp4", nil, raddr)
			}
			if err != nil {
				mu.Unlock()
				continue
			}
			peers[from.String()] = u
			go func(from *net.UDPAddr) {
				b := make([]byte, 65535)
				for {
					_ = u.SetReadDeadline(time.Now().Add(90 * time.Second))
					n, err := u.Read(b)
					if err != nil {
						mu.Lock()
						delete(peers, from.String())
						mu.Unlock()
						u.Close()
						return
					}
					_, _ = c.WriteToUDP(b[:n], from)
				}
			}(from)
		}
		mu.Unlock()
		_, _ = u.Write(buf[:n])
	}
}
