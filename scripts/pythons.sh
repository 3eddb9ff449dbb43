# Sourced by scripts/test.sh and scripts/test-all-pythons.sh: where each
# supported CPython and its environment are.
#   python_for X.Y   the interpreter: pyenv's newest X.Y.*, else pythonX.Y on PATH
#   venv_for X.Y     its environment: .venv when python3 is X.Y (the README's),
#                    else .venv-X.Y
python_for() {
    local v=$1 root found
    root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
    found=$(ls -d "$root"/versions/"$v".*/bin/python"$v" 2>/dev/null | sort -V | tail -n 1)
    [ -n "$found" ] || found=$(command -v "python$v" || true)
    if [ "$(venv_for "$v")" = .venv ]; then found=python3; fi
    [ -n "$found" ] && echo "$found"
}

venv_for() {
    if [ "$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$1" ]; then
        echo .venv
    else
        echo ".venv-$1"
    fi
}

# Set up the environment of version $1 (quick when it is there); prints its
# python, or fails saying the interpreter is missing.
setup_python() {
    local v=$1 py venv
    py=$(python_for "$v") || true
    if [ -z "$py" ]; then
        echo "aalink: no Python $v (pyenv install $v, or put python$v on PATH)" >&2
        return 1
    fi
    venv=$(venv_for "$v")
    AALINK_VENV=$venv PYTHON=$py bash scripts/setup.sh --test >&2
    echo "$venv/bin/python"
}
