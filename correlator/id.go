package correlator

// ValidID reports whether id is an event id as ferry writes it (and so a
// correlation id it can have issued): a UUID in canonical, lower-case text
// form, 8-4-4-4-12 hex digits. It guards map lookups and Redis keys against
// arbitrary bytes from reply records and URLs.
func ValidID[T string | []byte](id T) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}
