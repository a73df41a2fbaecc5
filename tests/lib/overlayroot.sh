# A throwaway copy of this system's root: an overlay over / whose writes go
# to a tmpfs.  Source it inside a private mount namespace (`unshare -m
# --propagation private`), then:  overlay_root T ROOT   (T/ov must exist)
# When the namespace ends, the mounts and every write are gone.
overlay_root() {
	mount -t tmpfs tmpfs "$1/ov"
	mkdir -p "$1/ov/up" "$1/ov/wk" "$2"
	mount -t overlay overlay -o "lowerdir=/,upperdir=$1/ov/up,workdir=$1/ov/wk" "$2"
}
