package accelerator

import "fmt"

// Mode selects the layers a cache uses.
type Mode uint8

const (
	// ModeDefault, the zero value, is ModeBoth when [Options.Remote] is set and
	// ModeLocal otherwise.
	ModeDefault Mode = iota
	// ModeLocal uses only the in-process layer (L1).
	ModeLocal
	// ModeRemote uses only the remote layer (L2).
	ModeRemote
	// ModeBoth reads L1, then L2, and writes both, L2 first.
	ModeBoth
)

// String returns the mode's name.
func (m Mode) String() string {
	switch m {
	case ModeDefault:
		return "default"
	case ModeLocal:
		return "local"
	case ModeRemote:
		return "remote"
	case ModeBoth:
		return "both"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

func (m Mode) hasLocal() bool  { return m == ModeLocal || m == ModeBoth }
func (m Mode) hasRemote() bool { return m == ModeRemote || m == ModeBoth }
