#!/bin/sh
# ringdump @VERSION@ for @ARCH@ Linux with glibc: a ringdump kit, built by `deno task kit`.
#
# This POSIX sh launcher is padded to @BLOCKS@ blocks of 4096 bytes; after it comes the payload, a
# gzip'd tar holding ringdump.js (the `deno bundle` of cli.ts) and, verbatim, the npm package
# @PACKAGE@@@DENO@ (the Deno runtime, as package/deno). Its sha256 is kit_sha256 below.
#
# The first run unpacks the payload into a cache directory named after its hash: into a
# temporary directory first, renamed into place in one step, so concurrent first runs are safe
# and a half-unpacked kit is never used. Later runs reuse it. Then it execs the runtime on the
# bundle with the permissions of the `deno task compile` binary; arguments, stdin/stdout,
# signals and the exit code are ringdump's own.
#
# Needs only sh, dd and tar (busybox has them); sha256sum, where present, checks the payload.
# Cache: $RINGDUMP_KIT_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/ringdump, else
# ${TMPDIR:-/tmp}/ringdump-kit-UID. About @UNPACKED_MB@ MB; remove kit-* there to reclaim it.
# Exit 126 when the kit cannot start ringdump (with one line saying why).
kit_sha256=@SHA256@
kit_blocks=@BLOCKS@
kit_name=kit-@SHORT@
kit_arch=@ARCH@
kit_nl='
'

kit_fail() {
  echo "ringdump kit: $*" >&2
  exit 126
}

kit_self=$0
case $kit_self in
  /*) ;;
  ./*) kit_self=$PWD/${kit_self#./} ;;
  *) kit_self=$PWD/$kit_self ;;
esac
[ -f "$kit_self" ] && [ -r "$kit_self" ] || kit_fail "cannot read $kit_self; run the kit by its path"

# Before the first unpack: a kit for another CPU says so (it runs where binfmt_misc has qemu
# for its CPU, as on a workstation testing an aarch64 kit).
kit_check_cpu() {
  kit_machine=$(uname -m 2>/dev/null) || return 0
  [ "$kit_machine" = "$kit_arch" ] && return 0
  [ -e "/proc/sys/fs/binfmt_misc/qemu-$kit_arch" ] && return 0
  case $kit_machine in
    arm* | aarch32*)
      kit_fail "this kit is for $kit_arch; this board is $kit_machine (32-bit ARM), for which Deno has no build: capture it over ssh with via=dd or via=pixeldump instead of the agent"
      ;;
  esac
  kit_fail "this kit is for $kit_arch; this machine is $kit_machine (uname -m): use ringdump-$kit_machine"
}

# kit_unpack BASE: afterwards BASE/$kit_name holds the unpacked kit (status 0), or kit_why says
# why it could not be put there (status 1).
kit_unpack() {
  kit_dir=$1/$kit_name
  [ -f "$kit_dir/ok" ] && return 0
  mkdir -p "$1" 2>/dev/null && [ -d "$1" ] && [ -w "$1" ] || {
    kit_why="cannot create or write $1"
    return 1
  }
  kit_check_cpu
  kit_tmp=$1/.$kit_name.$$
  rm -rf "$kit_tmp"
  mkdir "$kit_tmp" 2>/dev/null || {
    kit_why="cannot write in $1"
    return 1
  }
  [ -t 2 ] && echo "ringdump: unpacking into $kit_dir (first run only)" >&2
  if command -v sha256sum >/dev/null 2>&1; then
    kit_sum=$(dd if="$kit_self" bs=4096 skip="$kit_blocks" 2>/dev/null | sha256sum)
    case $kit_sum in
      "$kit_sha256"*) ;;
      *)
        rm -rf "$kit_tmp"
        kit_fail "$kit_self is damaged (its payload's sha256 is not the one it was built with); copy it again"
        ;;
    esac
  fi
  if ! kit_err=$(dd if="$kit_self" bs=4096 skip="$kit_blocks" 2>/dev/null |
    tar -xzf - -C "$kit_tmp" 2>&1) ||
    ! [ -x "$kit_tmp/package/deno" ] || ! [ -f "$kit_tmp/ringdump.js" ]; then
    rm -rf "$kit_tmp"
    kit_err=${kit_err%%"$kit_nl"*}
    case $kit_err in
      *crc* | *CRC* | *corrupt* | *nvalid* | *nexpected* | *"short read"* | *"not in gzip"*)
        kit_fail "$kit_self is damaged ($kit_err); copy it again"
        ;;
    esac
    kit_why="unpacking into $1 failed${kit_err:+ ($kit_err)}; it needs about @UNPACKED_MB@ MB free"
    return 1
  fi
  : >"$kit_tmp/ok"
  # A directory left without its "ok" (damaged by hand) is moved aside first.
  if [ -d "$kit_dir" ] && ! [ -f "$kit_dir/ok" ]; then
    mv "$kit_dir" "$kit_tmp.old" 2>/dev/null && rm -rf "$kit_tmp.old"
  fi
  # One rename: a concurrent first run sees all of it or nothing. When another run won the race,
  # this copy is dropped (if the other won just now, mv puts it inside the winner's; removed too).
  [ -f "$kit_dir/ok" ] || mv "$kit_tmp" "$kit_dir" 2>/dev/null
  rm -rf "$kit_dir/.$kit_name.$$" "$kit_tmp"
  [ -f "$kit_dir/ok" ] || {
    kit_why="cannot rename the unpacked kit into $kit_dir"
    return 1
  }
  # Leftovers of first runs that were killed (their process is gone).
  for kit_left in "$1/.$kit_name".*; do
    [ -d "$kit_left" ] || continue
    kill -0 "${kit_left##*.}" 2>/dev/null || rm -rf "$kit_left"
  done
  return 0
}

if [ -n "${RINGDUMP_KIT_CACHE:-}" ]; then
  kit_unpack "$RINGDUMP_KIT_CACHE" || kit_fail "$kit_why (RINGDUMP_KIT_CACHE=$RINGDUMP_KIT_CACHE)"
else
  kit_base=
  if [ -n "${XDG_CACHE_HOME:-}" ]; then
    kit_base=$XDG_CACHE_HOME/ringdump
  elif [ -n "${HOME:-}" ]; then
    kit_base=$HOME/.cache/ringdump
  fi
  kit_why="HOME is not set"
  if [ -z "$kit_base" ] || ! kit_unpack "$kit_base"; then
    kit_first=$kit_why
    # A shared temporary directory: only one this user made, for this user alone.
    kit_base=${TMPDIR:-/tmp}/ringdump-kit-$(id -u 2>/dev/null || echo "${USER:-user}")
    mkdir -m 700 "$kit_base" 2>/dev/null
    if [ -d "$kit_base" ] && [ -O "$kit_base" ] && [ ! -L "$kit_base" ]; then
      kit_unpack "$kit_base" || kit_fail "$kit_first; $kit_why; set RINGDUMP_KIT_CACHE to a writable directory"
    else
      kit_fail "$kit_first; $kit_base is not this user's; set RINGDUMP_KIT_CACHE to a writable directory"
    fi
  fi
fi

# The runtime's own caches (V8 code cache) live beside it; nothing is ever downloaded.
RINGDUMP_KIT=$kit_self
DENO_DIR=$kit_dir/deno_dir
DENO_NO_UPDATE_CHECK=1
export RINGDUMP_KIT DENO_DIR DENO_NO_UPDATE_CHECK
exec "$kit_dir/package/deno" run --no-config --no-lock --no-remote --no-npm --cached-only \
  --no-prompt @PERMISSIONS@ "$kit_dir/ringdump.js" "$@"
kit_fail "cannot run $kit_dir/package/deno"
