#!/usr/bin/env bash
# berth benchmarks (issue 8): prints numbers and writes bench/RESULTS.md.
#   make bench                                   # everything
#   BENCH_ONLY="converge rerun" make bench        # a subset of: converge rerun multiapp scale fleetfloor validate rollout maketest
#   BENCH_PAIRS=1 BENCH_SIZES="1 5" make bench    # fewer floor/berth pairs, smaller fleets
#   BENCH_VALIDATE_SIZES="100 1000" make bench
#   BENCH_APT_SEED=0 make bench                   # no shared apt packages + lists seed (default 1)
#   BENCH_PIP_CACHE=0 BENCH_PIPELINING=0 make bench   # no shared pip cache; pipelining as ansible.cfg has it
#   BENCH_SCALE_FLOOR=0 make bench                # fleets without floor.sh on the same number of hosts
#   BENCH_MITOGEN=1 make bench                    # opt-in accelerator: Mitogen's strategy (docs/performance.md)
# Every container it starts is labelled berth.owner=bench and berth.bench.run=<run id>,
# sits on its own network berth-bench-<run id>, and is removed on exit (trap). Nothing
# outside those containers is contacted.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH"
OUT="$ROOT/bench/out"
mkdir -p "$OUT"

BENCH_ONLY=${BENCH_ONLY:-converge rerun multiapp scale validate rollout maketest}
BENCH_PAIRS=${BENCH_PAIRS:-3}
BENCH_SIZES=${BENCH_SIZES:-1 5 10 20}
BENCH_VALIDATE_SIZES=${BENCH_VALIDATE_SIZES:-100 1000 10000}
BENCH_APT_SEED=${BENCH_APT_SEED:-1}
BENCH_PROFILE=${BENCH_PROFILE:-1}
# Fleet part: also time floor.sh on N fresh hosts at once (the same machine's floor for N).
BENCH_SCALE_FLOOR=${BENCH_SCALE_FLOOR:-1}
# A pip cache shared by every bench host (floor and berth alike): bench/out/pip-cache
# bind-mounted as root's pip cache. 0 = each host downloads the wheels itself.
BENCH_PIP_CACHE=${BENCH_PIP_CACHE:-1}
BENCH_RESULTS=${BENCH_RESULTS:-bench/RESULTS.md}
# Pipelining (ansible.cfg turns it on for every connection plugin): 1 = on, as shipped;
# 0 = off, to measure what it saves (~6 `docker exec` per task instead of 1).
BENCH_PIPELINING=${BENCH_PIPELINING:-1}
# Mitogen for Ansible (opt-in, not a berth dependency): 1 = run every playbook with its
# mitogen_linear strategy, set up by tools/mitogen-env.sh (pinned, in .cache/, never in .venv).
BENCH_MITOGEN=${BENCH_MITOGEN:-0}
CONNECTION=community.docker.docker
IMAGE=${BENCH_IMAGE:-berth-debian12-systemd:latest}
RUN_ID=$(date +%H%M%S)$$
RUN_ID=${RUN_ID:0:10}
NET=berth-bench-$RUN_ID
LOGS="$OUT/logs-$RUN_ID"
mkdir -p "$LOGS"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg" ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1
# Bench hosts get their own fact cache (hosts are new each run; never the sandbox's cache).
export ANSIBLE_CACHE_PLUGIN_CONNECTION="$OUT/facts-$RUN_ID"
# profile_tasks: per-task times in every log (what dominates); BENCH_PROFILE=0 to turn off.
# berth_module_runs (bench/callback): "berth module runs: <host> <n>" at the end of every log,
# the host-contacting module runs (one per task or loop item that ran on the host).
export ANSIBLE_CALLBACK_PLUGINS="$ROOT/bench/callback"
export ANSIBLE_CALLBACKS_ENABLED=berth_module_runs
[ "$BENCH_PROFILE" = 1 ] && export ANSIBLE_CALLBACKS_ENABLED=berth_module_runs,ansible.posix.profile_tasks
if [ "$BENCH_PIPELINING" = 1 ]; then export ANSIBLE_PIPELINING=True; else export ANSIBLE_PIPELINING=False; fi
export ANSIBLE_VAULT_PASSWORD_FILE="$ROOT/inventories/sandbox/vault-password.txt"
if [ "$BENCH_MITOGEN" = 1 ]; then
  eval "$(tools/mitogen-env.sh)"
  # Mitogen replaces the connection plugins it knows by short name; the FQCN would bypass it.
  CONNECTION=docker
fi

PIP_CACHE_ARGS=()
if [ "$BENCH_PIP_CACHE" = 1 ]; then
  mkdir -p "$OUT/pip-cache"; PIP_CACHE_ARGS=(-v "$OUT/pip-cache:/root/.cache/pip")
fi
declare -A R    # results: key -> value
RESULT_LINES=()

say() { printf '%s\n' "$*" | tee -a "$LOGS/summary.txt"; }
want() { [[ " $BENCH_ONLY " == *" $1 "* ]]; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{ if (NR%2) printf "%.1f", v[(NR+1)/2]; else printf "%.1f", (v[NR/2]+v[NR/2+1])/2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a" }'; }

cleanup() {
  local ids
  ids=$(docker ps -aq --filter "label=berth.bench.run=$RUN_ID" 2>/dev/null || true)
  [ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1 || true
  docker network rm "$NET" >/dev/null 2>&1 || true
  rm -rf "$OUT/facts-$RUN_ID" "$OUT/tree-$RUN_ID"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- containers: berth's one recipe (molecule/resources/systemd-host.yml) ----------------
start_hosts() {   # start_hosts NAME...  (in parallel: berth's one container recipe, tools/test-host.sh)
  local n failed=0
  docker network inspect "$NET" >/dev/null 2>&1 ||
    docker network create --label berth.owner=bench --label "berth.bench.run=$RUN_ID" "$NET" >/dev/null
  for n in "$@"; do
    { tools/test-host.sh "$n" "$IMAGE" --network "$NET" \
        --label berth.owner=bench --label "berth.bench.run=$RUN_ID" "${PIP_CACHE_ARGS[@]}" ||
        touch "$LOGS/$n.noboot"; } &
  done
  wait
  for n in "$@"; do [ -e "$LOGS/$n.noboot" ] && { echo "bench: $n did not boot" >&2; failed=1; }; done
  [ $failed = 0 ] || exit 1
  # The bench measures what a production host pays: without the test images' bytecode cache for
  # module payloads (tools/image/berth_test_bytecode.py), every module run compiles its sources,
  # and without their warm interpreter (tools/image/berth_test_modrun.py), every module run is a
  # fresh python3.
  for n in "$@"; do
    docker exec "$n" sh -c 'rm -f /usr/lib/python3/dist-packages/berth-test-bytecode.pth \
      /usr/lib/python3/dist-packages/berth-test-modrun.pth && systemctl disable --quiet --now berth-test-modrun.service' &
  done
  wait
  if [ "$BENCH_APT_SEED" = 1 ] && [ -d "$OUT/apt-seed" ]; then
    for n in "$@"; do
      { docker cp "$OUT/apt-seed/archives/." "$n:/var/cache/apt/archives/" >/dev/null &&
        docker cp "$OUT/apt-seed/lists/." "$n:/var/lib/apt/lists/" >/dev/null; } &
    done
    wait
  fi
}
remove_hosts() { docker rm -f "$@" >/dev/null 2>&1 || true; }

# --- inventories: sandbox group_vars, bench hosts ---------------------------------------
write_inventory() {   # write_inventory DIR "web hosts" "lb hosts" ["airbnb_clone hosts" ["db host"]]
  local dir=$1 web=$2 lb=${3:-} clone=${4:-} db=${5:-} h i=0
  rm -rf "$dir"; mkdir -p "$dir"
  ln -s "$ROOT/inventories/sandbox/group_vars" "$dir/group_vars"
  {
    echo "all:"
    echo "  vars: {ansible_connection: $CONNECTION, ansible_python_interpreter: /usr/bin/python3}"
    echo "  children:"
    echo "    berth:"
    echo "      children:"
    echo "        lb:"
    echo "          hosts:"
    for h in $lb; do echo "            $h:"; done
    echo "        web:"
    echo "          children:"
    echo "            canary:"
    echo "              hosts:"
    for h in $web; do [ $i -eq 0 ] && echo "                $h:"; i=$((i+1)); done
    echo "            wave1:"
    echo "              hosts:"
    i=0; for h in $web; do [ $i -gt 0 ] && echo "                $h:"; i=$((i+1)); done
    # The four apps of the AirBnB-clone application server (sandbox group_vars/airbnb_clone).
    echo "            airbnb_clone:"
    echo "              hosts:"
    for h in $clone; do echo "                $h:"; done
    # Their API's MariaDB (sandbox group_vars/db); the bench's containers lack NET_ADMIN for
    # the firewall, which is not what the bench measures.
    echo "        db:"
    echo "          hosts:"
    for h in $db; do echo "            $h: {firewall_enabled: false}"; done
  } >"$dir/hosts.yml"
}

# Runs ansible-playbook, logs to $LOGS/<tag>.log, sets LAST_SECS; fails loudly on error.
play() {   # play TAG INVENTORY PLAYBOOK [ARGS...]
  local tag=$1 inv=$2 pb=$3; shift 3
  local t0 rc=0
  t0=$(now)
  ansible-playbook -i "$inv" "$pb" "$@" >"$LOGS/$tag.log" 2>&1 || rc=$?
  LAST_SECS=$(secs "$t0" "$(now)")
  if [ $rc -ne 0 ]; then
    echo "bench: $pb failed ($tag), log $LOGS/$tag.log:" >&2; tail -40 "$LOGS/$tag.log" >&2; exit 1
  fi
}
module_runs() {   # module_runs LOG HOST: host-contacting module runs of HOST in that run
  awk -v h="$2" '$1=="berth" && $2=="module" && $3=="runs:" && $4==h {n=$5} END{print n+0}' "$1"
}
recap_changed() { awk '/PLAY RECAP/{r=1} r && /changed=/{for(i=1;i<=NF;i++) if ($i ~ /^changed=/){split($i,a,"="); s+=a[2]}} END{print s+0}' "$1"; }
mirror() {   # mirror TAG INVENTORY: the stand-in datadog mirror onto every host (timed apart)
  play "$1-mirror" "$2" molecule/resources/datadog-standin-mirror.yml
}
top_tasks() {   # top_tasks LOG N: slowest tasks from profile_tasks
  grep -E '^[A-Za-z].* -+ [0-9.]+s$' "$1" | awk -F' -+ ' '{print $NF"\t"$1}' | sort -rg | head -"${2:-8}"
}

floor_on() {   # floor_on NAME: copy the floor's inputs in and run it (host already booted)
  local n=$1
  docker exec "$n" mkdir -p /opt/bench /srv/datadog-standin-mirror &&
    docker cp bench/floor.sh "$n:/opt/bench/floor.sh" >/dev/null &&
    docker cp roles/flask_app/files/hello "$n:/opt/bench/hbnb" >/dev/null &&
    docker cp "$STANDIN_REPO/." "$n:/srv/datadog-standin-mirror/" >/dev/null &&
    docker exec "$n" bash /opt/bench/floor.sh /opt/bench/hbnb /srv/datadog-standin-mirror >"$LOGS/$n.log" 2>&1
}
run_floor() {   # run_floor NAME... -> LAST_SECS (cp + script on every host at once, after boot)
  local n t0 failed=0
  start_hosts "$@"
  t0=$(now)
  for n in "$@"; do { floor_on "$n" || touch "$LOGS/$n.failed"; } & done
  wait
  LAST_SECS=$(secs "$t0" "$(now)")
  for n in "$@"; do
    if [ -e "$LOGS/$n.failed" ]; then
      failed=1; echo "bench: floor failed on $n, log $LOGS/$n.log:" >&2; tail -20 "$LOGS/$n.log" >&2
    fi
  done
  [ $failed = 0 ] || exit 1
}

# --- preparation: the stand-in repository; the apt package seed ------------------------
STANDIN_REPO=$(python3 tools/datadog-standin-repo.py --out "$ROOT/.cache/datadog-standin" | python3 -c 'import json,sys; print(json.load(sys.stdin)["repo"])')

say "# berth bench run $RUN_ID  $(date -u +%FT%TZ)"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
say "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM; load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
say "options: pairs=$BENCH_PAIRS sizes='$BENCH_SIZES' apt_seed=$BENCH_APT_SEED pip_cache=$BENCH_PIP_CACHE pipelining=$BENCH_PIPELINING mitogen=$BENCH_MITOGEN only='$BENCH_ONLY'"

if [ "$BENCH_APT_SEED" = 1 ] && [ ! -d "$OUT/apt-seed" ] && { want converge || want scale || want fleetfloor || want rollout; }; then
  # One untimed floor run; its downloaded .debs become the package cache every bench host
  # (floor and berth alike) starts with: the "local apt cache shared by test hosts".
  say "seeding the shared apt package cache (untimed floor run)..."
  run_floor "bench-$RUN_ID-seed"
  rm -rf "$OUT/apt-seed.tmp"; mkdir -p "$OUT/apt-seed.tmp/archives" "$OUT/apt-seed.tmp/lists"
  docker cp "bench-$RUN_ID-seed:/var/cache/apt/archives/." "$OUT/apt-seed.tmp/archives/" >/dev/null
  docker cp "bench-$RUN_ID-seed:/var/lib/apt/lists/." "$OUT/apt-seed.tmp/lists/" >/dev/null
  # Only Debian's own packages and lists: the stand-in repository is installed by each run.
  rm -rf "$OUT/apt-seed.tmp"/*/partial "$OUT/apt-seed.tmp"/*/lock "$OUT/apt-seed.tmp"/archives/datadog-agent_* \
    "$OUT/apt-seed.tmp"/lists/*datadog-standin*
  mv "$OUT/apt-seed.tmp" "$OUT/apt-seed"
  remove_hosts "bench-$RUN_ID-seed"
  say "apt seed: $(ls "$OUT/apt-seed/archives"/*.deb | wc -l) packages + Debian package lists, $(du -sh "$OUT/apt-seed" | cut -f1)"
fi

# --- 1-3: floor vs fresh converge, alternating; idempotent re-run ------------------------
if want converge || want rerun; then
  floors=() berths=() mirrors=() reruns=()
  pairs=$BENCH_PAIRS; want converge || pairs=1
  for p in $(seq 1 "$pairs"); do
    if want converge; then
      run_floor "bench-$RUN_ID-floor$p"; floors+=("$LAST_SECS")
      say "pair $p: floor ${LAST_SECS}s"
      remove_hosts "bench-$RUN_ID-floor$p"
    fi
    h="bench-$RUN_ID-b$p"
    start_hosts "$h"
    write_inventory "$OUT/inv-$h" "$h"
    mirror "$h" "$OUT/inv-$h"; mirrors+=("$LAST_SECS")
    play "$h-converge" "$OUT/inv-$h" site.yml
    berths+=("$LAST_SECS")
    say "pair $p: berth fresh converge ${LAST_SECS}s (mirror copy ${mirrors[-1]}s, excluded)"
    if want rerun; then
      play "$h-rerun" "$OUT/inv-$h" site.yml
      c=$(recap_changed "$LOGS/$h-rerun.log")
      reruns+=("$LAST_SECS"); R[rerun_runs]=$(module_runs "$LOGS/$h-rerun.log" "$h")
      say "pair $p: berth re-run ${LAST_SECS}s changed=$c, ${R[rerun_runs]} module runs on the host"
      if [ "$c" != 0 ]; then
        echo "bench: FAILED: the second site.yml run reported changed=$c (must be 0); log $LOGS/$h-rerun.log" >&2
        grep -E '^changed:' "$LOGS/$h-rerun.log" >&2 || true
        exit 1
      fi
    fi
    remove_hosts "$h"
  done
  if want converge; then
    R[floor]=$(median "${floors[@]}"); R[berth]=$(median "${berths[@]}")
    R[floor_all]="${floors[*]}"; R[berth_all]="${berths[*]}"; R[mirror]=$(median "${mirrors[@]}")
    R[ratio]=$(ratio "${R[berth]}" "${R[floor]}")
    say "floor median ${R[floor]}s [${R[floor_all]}]; berth fresh converge median ${R[berth]}s [${R[berth_all]}]; ratio ${R[ratio]}x (target <= 2.5x)"
  fi
  if want rerun; then
    R[rerun]=$(median "${reruns[@]}"); R[rerun_all]="${reruns[*]}"
    say "idempotent re-run median ${R[rerun]}s [${R[rerun_all]}], changed=0 asserted (target <= 10s)"
  fi
fi

# --- 3b: the web host of the AirBnB-clone application server (four apps, Nginx, agent) ----
# A fresh converge, then BENCH_PAIRS idempotent re-runs (changed=0 asserted) and the module
# runs each re-run made on the host.
if want multiapp; then
  h="bench-$RUN_ID-m"
  start_hosts "$h" "$h-db"
  write_inventory "$OUT/inv-$h" "$h" "" "$h" "$h-db"
  mirror "$h" "$OUT/inv-$h"
  play "$h-converge" "$OUT/inv-$h" site.yml
  R[multi_converge]=$LAST_SECS
  say "multiapp: fresh converge of the four apps ${LAST_SECS}s"
  mre=()
  for p in $(seq 1 "$BENCH_PAIRS"); do
    # The web host's re-run (its database host is another host's re-run).
    play "$h-rerun$p" "$OUT/inv-$h" site.yml --limit "$h"
    c=$(recap_changed "$LOGS/$h-rerun$p.log")
    [ "$c" = 0 ] || { echo "bench: FAILED: multiapp re-run $p reported changed=$c (must be 0); log $LOGS/$h-rerun$p.log" >&2; exit 1; }
    mre+=("$LAST_SECS"); R[multi_runs]=$(module_runs "$LOGS/$h-rerun$p.log" "$h")
    say "multiapp: re-run $p ${LAST_SECS}s changed=0, ${R[multi_runs]} module runs on the host"
  done
  R[multi_rerun]=$(median "${mre[@]}"); R[multi_rerun_all]="${mre[*]}"
  remove_hosts "$h" "$h-db"
fi

# --- 4: fleet scale ----------------------------------------------------------------------
# `scale`: site.yml on N fresh hosts (and, with BENCH_SCALE_FLOOR=1, floor.sh on N fresh hosts
# at once: this machine's own floor for N, since the hosts share its cores);
# `fleetfloor`: only the floor.sh part.
fleet_floor() { want fleetfloor || { want scale && [ "$BENCH_SCALE_FLOOR" = 1 ]; }; }
if want scale || want fleetfloor; then
  for n in $BENCH_SIZES; do
    if want scale; then
      hosts=(); for i in $(seq 1 "$n"); do hosts+=("bench-$RUN_ID-s$n-$i"); done
      t0=$(now); start_hosts "${hosts[@]}"; boot=$(secs "$t0" "$(now)")
      inv="$OUT/inv-$RUN_ID-s$n"; write_inventory "$inv" "${hosts[*]}"
      mirror "s$n" "$inv"; m=$LAST_SECS
      forks=$(( n > 25 ? n : 25 ))
      play "s$n-converge" "$inv" site.yml --forks "$forks"
      R[scale_$n]=$LAST_SECS
      say "scale $n host(s): site.yml ${LAST_SECS}s (boot ${boot}s, mirror copy ${m}s, both excluded; forks $forks)"
      top_tasks "$LOGS/s$n-converge.log" 6 | sed 's/^/    /' | tee -a "$LOGS/summary.txt"
      remove_hosts "${hosts[@]}"
    fi
    if fleet_floor; then
      hosts=(); for i in $(seq 1 "$n"); do hosts+=("bench-$RUN_ID-f$n-$i"); done
      run_floor "${hosts[@]}"; R[scale_floor_$n]=$LAST_SECS
      say "fleet floor $n host(s): floor.sh on all of them at once ${LAST_SECS}s (boot excluded)"
      remove_hosts "${hosts[@]}"
    fi
  done
  first=${BENCH_SIZES%% *}
  for n in $BENCH_SIZES; do
    want scale && R[scale_ratio_$n]=$(ratio "${R[scale_$n]}" "${R[scale_$first]}")
    fleet_floor && R[scale_floor_ratio_$n]=$(ratio "${R[scale_floor_$n]}" "${R[scale_floor_$first]}")
  done
fi

# --- 5: offline validation ---------------------------------------------------------------
if want validate; then
  # shellcheck disable=SC2086
  env -u ANSIBLE_CALLBACKS_ENABLED python3 bench/validate_scale.py --sizes $BENCH_VALIDATE_SIZES | tee "$LOGS/validate.md"
  R[validate_table]=$(cat "$LOGS/validate.md")
fi

# --- 6: rollout overhead -----------------------------------------------------------------
if want rollout; then
  lb="bench-$RUN_ID-lb"; w1="bench-$RUN_ID-web1"; w2="bench-$RUN_ID-web2"
  start_hosts "$lb" "$w1" "$w2"
  inv="$OUT/inv-$RUN_ID-rollout"; write_inventory "$inv" "$w1 $w2" "$lb"
  mirror rollout "$inv"
  play rollout-converge "$inv" site.yml -e flask_app_release=r0
  say "rollout setup (1 lb + 2 web): site.yml ${LAST_SECS}s"
  # plain: both hosts at once; ordered: the same plain deploy stage by stage (canary, then wave1),
  # the order the rollout deploys in. The overhead the target is about - drain, gates, the host's
  # Nginx and agent, re-enable - is the rollout minus the ordered plain deploy.
  plain=() ordered=() staged=()
  for k in 1 2; do
    play "rollout-plain$k" "$inv" playbooks/web.yml --tags flask_app -e "flask_app_release=p$k"
    plain+=("$LAST_SECS")
    play "rollout-ordered$k-canary" "$inv" playbooks/web.yml --tags flask_app --limit canary -e "flask_app_release=o$k"
    o=$LAST_SECS
    play "rollout-ordered$k-wave1" "$inv" playbooks/web.yml --tags flask_app --limit wave1 -e "flask_app_release=o$k"
    ordered+=("$(awk -v a="$o" -v b="$LAST_SECS" 'BEGIN{printf "%.1f", a+b}')")
    play "rollout-staged$k" "$inv" playbooks/rollout.yml -e "flask_app_release=s$k"
    staged+=("$LAST_SECS")
    say "rollout round $k: plain deploy (web.yml --tags flask_app) ${plain[-1]}s, the same stage by stage ${ordered[-1]}s, staged rollout (rollout.yml) ${staged[-1]}s"
  done
  R[plain]=$(median "${plain[@]}"); R[ordered]=$(median "${ordered[@]}"); R[staged]=$(median "${staged[@]}")
  R[per_host]=$(awk -v s="${R[staged]}" -v p="${R[plain]}" 'BEGIN{printf "%.1f", (s-p)/2}')
  R[per_host_ordered]=$(awk -v s="${R[staged]}" -v p="${R[ordered]}" 'BEGIN{printf "%.1f", (s-p)/2}')
  say "rollout: plain ${R[plain]}s, stage by stage ${R[ordered]}s, staged ${R[staged]}s for 2 web hosts -> overhead ${R[per_host_ordered]}s per host over the same order (${R[per_host]}s over a parallel deploy)"
  remove_hosts "$lb" "$w1" "$w2"
fi

# --- 7: make test from a clean clone (the test images are cached) ---------------------
if want maketest; then
  clone="$OUT/clone-$RUN_ID"
  rm -rf "$clone"; git clone -q "$ROOT" "$clone"
  t0=$(now)
  if (cd "$clone" && env -u ANSIBLE_CALLBACKS_ENABLED -u ANSIBLE_CALLBACK_PLUGINS -u ANSIBLE_CONFIG \
        -u ANSIBLE_CACHE_PLUGIN_CONNECTION -u ANSIBLE_VAULT_PASSWORD_FILE make test) >"$LOGS/maketest.log" 2>&1; then
    R[maketest]=$(awk -v s="$(secs "$t0" "$(now)")" 'BEGIN{printf "%.1f", s/60}')
    say "make test from a clean clone of $(git rev-parse --short HEAD): ${R[maketest]} min"
    grep -E '^=== (scenario .* passed in|phase 1)' "$LOGS/maketest.log" | sed 's/^/    /' | tee -a "$LOGS/summary.txt"
  else
    echo "bench: make test failed in $clone; log $LOGS/maketest.log" >&2; tail -30 "$LOGS/maketest.log" >&2; exit 1
  fi
  rm -rf "$clone"
fi

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
say "load at end: $LOAD_END"

# --- bench/RESULTS.md: the latest results ------------------------------------------------
target() {   # target VALUE LIMIT -> "met" / "missed by X"
  awk -v v="$1" -v l="$2" 'BEGIN{ if (v=="" ) print "not run"; else if (v+0 <= l+0) print "met"; else printf "missed by %.2f (%.0f%%)", v-l, (v-l)*100/l }'
}
{
  echo "# berth benchmark results"
  echo
  echo "Written by \`make bench\` (bench/run.sh); every number below comes from the run named here."
  echo "Methodology, what dominates and what was done about it: [README.md](README.md)."
  echo
  echo "- run: \`$RUN_ID\`, $(date -u +%FT%TZ)"
  echo "- machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/{print $2}') GiB RAM, $(. /etc/os-release; echo "$PRETTY_NAME"), docker $(docker version -f '{{.Server.Version}}' 2>/dev/null)"
  echo "- load average at start / end: $LOAD_START / $LOAD_END (the end value includes the bench's own last part)"
  echo "- options: parts \`$BENCH_ONLY\`, pairs $BENCH_PAIRS, fleet sizes \`$BENCH_SIZES\`, validation sizes \`$BENCH_VALIDATE_SIZES\`, shared apt seed $BENCH_APT_SEED, shared pip cache $BENCH_PIP_CACHE, ANSIBLE_PIPELINING=$ANSIBLE_PIPELINING, Mitogen $BENCH_MITOGEN"
  echo "- reproduce: \`BENCH_ONLY=\"$BENCH_ONLY\" BENCH_PAIRS=$BENCH_PAIRS BENCH_SIZES=\"$BENCH_SIZES\" BENCH_VALIDATE_SIZES=\"$BENCH_VALIDATE_SIZES\" BENCH_APT_SEED=$BENCH_APT_SEED BENCH_PIP_CACHE=$BENCH_PIP_CACHE BENCH_PIPELINING=$BENCH_PIPELINING BENCH_MITOGEN=$BENCH_MITOGEN BENCH_SCALE_FLOOR=$BENCH_SCALE_FLOOR make bench\`"
  echo
  echo "| measure | result | target | status |"
  echo "|---|---:|---:|---|"
  if want converge; then
    echo "| floor (plain shell, same work), median of $BENCH_PAIRS | ${R[floor]} s (${R[floor_all]}) | | |"
    echo "| berth fresh converge (site.yml), median of $BENCH_PAIRS | ${R[berth]} s (${R[berth_all]}) | | |"
    echo "| ratio berth / floor | ${R[ratio]}x | <= 2.5x | $(target "${R[ratio]}" 2.5) |"
    echo "| stand-in mirror copy before converge (excluded above) | ${R[mirror]} s | | |"
  fi
  if want rerun; then
    echo "| idempotent re-run, one app, changed=0 asserted | ${R[rerun]} s (${R[rerun_all]}) | <= 10 s | $(target "${R[rerun]}" 10) |"
    echo "| host-contacting module runs on that re-run | ${R[rerun_runs]} | <= 15 | $(target "${R[rerun_runs]}" 15) |"
  fi
  if want multiapp; then
    echo "| fresh converge, web host with the four AirBnB-clone apps | ${R[multi_converge]} s | | |"
    echo "| idempotent re-run of that web host (every app, Nginx, agent), changed=0 asserted | ${R[multi_rerun]} s (${R[multi_rerun_all]}) | <= 10 s | $(target "${R[multi_rerun]}" 10) |"
    echo "| host-contacting module runs on that re-run | ${R[multi_runs]} | <= 15 | $(target "${R[multi_runs]}" 15) |"
  fi
  if want scale || want fleetfloor; then
    for n in $BENCH_SIZES; do
      if want scale; then
        echo "| fleet: $n host(s) fresh site.yml | ${R[scale_$n]} s, ${R[scale_ratio_$n]}x of ${BENCH_SIZES%% *} | | |"
      fi
      if fleet_floor; then
        echo "| fleet floor: floor.sh on $n host(s) at once | ${R[scale_floor_$n]} s, ${R[scale_floor_ratio_$n]}x of ${BENCH_SIZES%% *} | | |"
      fi
      if want scale && fleet_floor; then
        fr=$(ratio "${R[scale_$n]}" "${R[scale_floor_$n]}")
        if [ "$n" = 20 ]; then t="<= 2.5x"; st=$(target "$fr" 2.5); else t=""; st=""; fi
        echo "| fleet: $n host(s), berth / fleet floor | ${fr}x | $t | $st |"
      fi
    done
  fi
  if want rollout; then
    echo "| plain deploy, web.yml --tags flask_app, 2 web hosts (median of 2) | ${R[plain]} s | | |"
    echo "| staged rollout, rollout.yml, 1 lb + 2 web (median of 2) | ${R[staged]} s | | |"
    echo "| the same plain deploy stage by stage (canary, then wave1), median of 2 | ${R[ordered]} s | | |"
    echo "| rollout overhead per web host over a parallel plain deploy (stages serialise the build too) | ${R[per_host]} s | | |"
    echo "| rollout overhead per web host over the same deploy in stage order (drain, gates, Nginx, agent, re-enable) | ${R[per_host_ordered]} s | <= 8 s | $(target "${R[per_host_ordered]}" 8) |"
  fi
  if want maketest; then
    echo "| make test from a clean clone (images cached) | ${R[maketest]} min | <= 15 min | $(target "${R[maketest]}" 15) |"
  fi
  if want validate; then
    echo
    echo "## Offline validation (bench/validate_scale.py; target: 10,000 hosts <= 5 s for validate.yml)"
    echo
    echo "${R[validate_table]}"
  fi
  echo
  echo "## Run log"
  echo
  echo '```'
  cat "$LOGS/summary.txt"
  echo '```'
} >"$ROOT/$BENCH_RESULTS"
echo "wrote $BENCH_RESULTS (logs: ${LOGS#"$ROOT"/})"
