# write_manifest DIR: DIR/MANIFEST.sha256 lists the SHA-256 of every file under DIR (sorted, paths relative to
# DIR), written to a temporary name and renamed. Shared by collect-experiment.sh and rereport-experiment.sh.
write_manifest() {
  (cd "$1" && find . -type f ! -name MANIFEST.sha256 ! -name MANIFEST.sha256.tmp | sort | sed 's|^\./||' | xargs sha256sum > MANIFEST.sha256.tmp \
     && mv MANIFEST.sha256.tmp MANIFEST.sha256)
}
