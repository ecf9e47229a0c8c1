package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// probeTimeout bounds each step of the endpoint check: connecting, and the server's answer.
var probeTimeout = 3 * time.Second

// otlpEndpoint checks the value of an endpoint flag (--endpoint, or any other flag that names
// where OTLP gRPC goes) and returns it as host:port. With probe set it also makes sure that a
// plaintext gRPC server answers there, so that a wrong endpoint fails within seconds with its
// flag's name instead of through the exporter's retries. A value of the wrong form is a
// usageError.
func otlpEndpoint(ctx context.Context, flagName, value string, probe bool) (string, error) {
	addr, err := parseEndpoint(value)
	if err != nil {
		return "", usageError{fmt.Errorf("--%s %q: %w", flagName, value, err)}
	}
	if probe {
		if err := probeGRPC(ctx, addr); err != nil {
			return "", fmt.Errorf("--%s %s: %w", flagName, addr, err)
		}
	}
	return addr, nil
}

// howToWrite ends every complaint about an endpoint's form.
const howToWrite = "write host:port, e.g. 127.0.0.1:4317 (the collector's OTLP gRPC port)"

// parseEndpoint accepts host:port, and http:// or grpc:// in front of it (both mean plaintext,
// which is what taskersim sends).
func parseEndpoint(value string) (string, error) {
	hostPort := strings.TrimSpace(value)
	if hostPort == "" {
		return "", errors.New("empty: " + howToWrite)
	}
	if scheme, _, ok := strings.Cut(hostPort, "://"); ok {
		u, err := url.Parse(hostPort)
		switch {
		case err != nil:
			return "", fmt.Errorf("not a URL (%v): %s", err, howToWrite)
		case scheme == "https" || scheme == "grpcs":
			return "", errors.New("taskersim sends plaintext OTLP gRPC, without TLS: " + howToWrite)
		case scheme != "http" && scheme != "grpc":
			return "", fmt.Errorf("unknown scheme %q: %s", scheme, howToWrite)
		case u.Path != "" && u.Path != "/" || u.RawQuery != "":
			return "", errors.New("OTLP gRPC has no URL path (/v1/traces is OTLP/HTTP's): " + howToWrite)
		}
		hostPort = u.Host
	}
	host, port, err := net.SplitHostPort(hostPort)
	var addrErr *net.AddrError
	switch {
	case errors.As(err, &addrErr) && addrErr.Err == "missing port in address":
		return "", errors.New("no port: " + howToWrite)
	case err != nil:
		return "", fmt.Errorf("not host:port (%v): %s; an IPv6 address goes in brackets, [::1]:4317", err, howToWrite)
	case host == "":
		return "", errors.New("no host: " + howToWrite)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("port %q is not a number from 1 to 65535: %s", port, howToWrite)
	}
	return net.JoinHostPort(host, port), nil
}

// http2Preface is what a gRPC client sends first: the HTTP/2 connection preface and an empty
// SETTINGS frame. A gRPC server answers with a SETTINGS frame of its own; an HTTP/1.1 server
// answers with a status line.
var http2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")

// probeGRPC connects to addr and checks that it speaks plaintext HTTP/2, as an OTLP gRPC
// receiver does.
func probeGRPC(ctx context.Context, addr string) error {
	dialer := net.Dialer{Timeout: probeTimeout}
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return errors.New("nothing listens there (connection refused); start a collector (make run listens on 127.0.0.1:4317) or point the flag at one")
		}
		return fmt.Errorf("cannot connect within %s (%v); is the collector running and reachable?", probeTimeout, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(probeTimeout))
	if _, err := conn.Write(http2Preface); err != nil {
		return fmt.Errorf("connected, but the connection broke (%v)", err)
	}
	answer := make([]byte, 16)
	n, err := io.ReadAtLeast(conn, answer, 5)
	answer = answer[:n]
	switch {
	case bytes.HasPrefix(answer, []byte("HTTP/")):
		return errors.New("answers HTTP/1.1, not gRPC: this is an OTLP/HTTP port (the collector's is 4318); taskersim sends OTLP gRPC, the collector's port 4317")
	case n > 0 && (answer[0] == 0x15 || answer[0] == 0x16):
		return errors.New("answers with TLS; taskersim sends plaintext OTLP gRPC: point it at a plaintext OTLP gRPC receiver")
	case n >= 4 && answer[3] == 0x04: // the type of an HTTP/2 SETTINGS frame
		return nil
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("closed the connection without answering like a gRPC server: is this an OTLP gRPC port (the collector's is 4317)?")
	case err != nil:
		return fmt.Errorf("no gRPC answer within %s (%v): is this an OTLP gRPC port (the collector's is 4317)?", probeTimeout, err)
	}
	return fmt.Errorf("does not answer like a gRPC server (first bytes %q): is this an OTLP gRPC port (the collector's is 4317)?", answer)
}
