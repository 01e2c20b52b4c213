#!/bin/sh
# fieldapp: offline install or update on Linux (x86_64, aarch64), from this kit only (no network).
# Usage: sh install.sh [--version X] [--venv DIR] [--no-link]
set -eu
KIT=$(cd "$(dirname "$0")" && pwd)
APPDIR="${XDG_DATA_HOME:-$HOME/.local/share}/fieldapp-app"
VENV="${FIELDAPP_VENV:-$APPDIR/venv}"
VERSION=""
LINK=1
while [ $# -gt 0 ]; do
    case "$1" in
        --version) VERSION="${2:?--version 需要版本号}"; shift 2 ;;
        --venv) VENV="${2:?--venv 需要目录}"; shift 2 ;;
        --no-link) LINK=0; shift ;;
        -h|--help) sed -n '2,3p' "$0"; exit 0 ;;
        *) echo "未知参数：$1（可用 --version X, --venv DIR, --no-link）" >&2; exit 2 ;;
    esac
done
fail() { echo "安装失败：$*" >&2; exit 1; }

[ -n "$VERSION" ] || VERSION=$(cat "$KIT/versions/LATEST")
DIR="$KIT/versions/$VERSION"
[ -d "$DIR" ] || fail "本安装包中没有版本 $VERSION（有：$(ls "$KIT/versions" | grep -v LATEST | tr '\n' ' ')）"

case "$(uname -m)" in
    x86_64|amd64) PLAT=linux_x86_64 ;;
    aarch64|arm64) PLAT=linux_aarch64 ;;
    *) fail "不支持的处理器 $(uname -m)（支持 x86_64、aarch64）" ;;
esac

pytag() { "$1" -c 'import sys; print("py%d%d" % sys.version_info[:2])' 2>/dev/null; }

# A Python whose version has a requirements file in this kit: the one in our folder, the
# system's, or one unpacked from python/ (a standalone build the district put into the kit).
PY=""
for c in "${FIELDAPP_PYTHON:-}" "$APPDIR/python/bin/python3" python3.11 python3.12 python3; do
    [ -n "$c" ] || continue
    tag=$(pytag "$c") || continue
    if [ -f "$DIR/requirements-$PLAT-$tag.txt" ]; then PY="$c"; TAG="$tag"; break; fi
done
if [ -z "$PY" ]; then
    for t in "$KIT"/python/*"$(uname -m)"*linux*.tar.gz; do
        [ -f "$t" ] || continue
        echo "解压 Python：$(basename "$t") → $APPDIR/python"
        mkdir -p "$APPDIR"
        tar -xzf "$t" -C "$APPDIR"
        tag=$(pytag "$APPDIR/python/bin/python3") || continue
        if [ -f "$DIR/requirements-$PLAT-$tag.txt" ]; then PY="$APPDIR/python/bin/python3"; TAG="$tag"; break; fi
    done
fi
[ -n "$PY" ] || fail "找不到合适的 Python（本安装包支持：$(ls "$DIR" | sed -n "s/^requirements-$PLAT-\(py[0-9]*\)\.txt$/\1/p" | tr '\n' ' ')）。请先安装 Python 3.11，见 安装说明.md"
REQ="$DIR/requirements-$PLAT-$TAG.txt"

# A venv made by another Python version cannot take these wheels: make it again.
if [ -x "$VENV/bin/python" ] && [ "$(pytag "$VENV/bin/python")" != "$TAG" ]; then
    echo "原有环境的 Python 版本不同，重新创建：$VENV"
    rm -rf "$VENV"
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV" || fail "无法创建 $VENV（Debian/UOS 需先安装 python3-venv）"

OLD=$(cat "$VENV/fieldapp-kit-version" 2>/dev/null || true)
# Only this kit: no pip configuration (a mirror, find-links) and no network.
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
"$VENV/bin/python" -m pip install --no-index --find-links "$DIR" --require-hashes -r "$REQ" \
    || fail "pip 拒绝安装（文件缺失或被改动？请重新拷贝安装包）"
echo "$VERSION" > "$VENV/fieldapp-kit-version"

if [ "$LINK" = 1 ]; then
    mkdir -p "$HOME/.local/bin"
    ln -sf "$VENV/bin/fieldapp" "$HOME/.local/bin/fieldapp"
    echo "命令：$HOME/.local/bin/fieldapp"
fi
"$VENV/bin/fieldapp" --version
if [ -n "$OLD" ] && [ "$OLD" != "$VERSION" ] && \
   [ "$(printf '%s\n%s\n' "$OLD" "$VERSION" | sort -V | tail -n1)" = "$OLD" ]; then
    echo "已从 $OLD 回退到 $VERSION。若新版本已迁移过数据库，请按 安装说明.md 恢复迁移前的备份。"
fi
echo "安装完成：fieldapp $VERSION（$PLAT, $TAG）→ $VENV"
