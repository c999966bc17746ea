package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ReplyError is an error reply from the server, such as "ERR unknown command" or
// "CROSSSLOT Keys in request don't hash to the same slot".
type ReplyError string

// Error returns the error reply as the server sent it.
func (e ReplyError) Error() string { return string(e) }

// errProtocol reports a reply that is not valid RESP2.
var errProtocol = errors.New("redistest: protocol error")

// writeCommand encodes args as a RESP array of bulk strings.
func writeCommand(w *bufio.Writer, args []string) error {
	fmt.Fprintf(w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(w, "$%d\r\n%s\r\n", len(a), a)
	}
	return w.Flush()
}

// readReply decodes one RESP2 reply: a string for simple and bulk strings, an int64
// for integers, a []any for arrays, nil for null replies and a [ReplyError] for error
// replies. The error result is only for I/O and protocol failures.
func readReply(r *bufio.Reader) (any, error) {
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	if len(line) == 0 {
		return nil, fmt.Errorf("%w: empty line", errProtocol)
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return ReplyError(body), nil
	case ':':
		n, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: integer %q", errProtocol, body)
		}
		return n, nil
	case '$':
		return readBulk(r, body)
	case '*':
		return readArray(r, body)
	}
	return nil, fmt.Errorf("%w: unexpected type byte %q", errProtocol, line[0])
}

func readBulk(r *bufio.Reader, size string) (any, error) {
	n, err := strconv.Atoi(size)
	if err != nil || n < -1 {
		return nil, fmt.Errorf("%w: bulk length %q", errProtocol, size)
	}
	if n == -1 {
		return nil, nil
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return string(buf[:n]), nil
}

func readArray(r *bufio.Reader, size string) (any, error) {
	n, err := strconv.Atoi(size)
	if err != nil || n < -1 {
		return nil, fmt.Errorf("%w: array length %q", errProtocol, size)
	}
	if n == -1 {
		return nil, nil
	}
	out := make([]any, n)
	for i := range out {
		if out[i], err = readReply(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return "", fmt.Errorf("%w: line without CRLF", errProtocol)
	}
	return line[:len(line)-2], nil
}
