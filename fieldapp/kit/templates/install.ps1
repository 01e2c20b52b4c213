# fieldapp: offline install or update on Windows 10 and later, from this kit only (no network).
# Started by install.bat. Saved as UTF-8 with BOM: Windows PowerShell 5.1 reads a file without
# BOM in the ANSI code page (GBK), which would garble the Chinese messages.
param(
    [string]$Version = "",
    [string]$Venv = "",
    [switch]$NoShortcut
)
$ErrorActionPreference = "Stop"
$Kit = Split-Path -Parent $MyInvocation.MyCommand.Path
$AppDir = Join-Path $env:LOCALAPPDATA "Programs\fieldapp"
if (-not $Venv) { $Venv = Join-Path $AppDir "venv" }
$Plat = "win_amd64"

function Fail([string]$Message) {
    Write-Host "安装失败：$Message" -ForegroundColor Red
    exit 1
}

if ([Environment]::OSVersion.Version.Major -lt 10) { Fail "需要 Windows 10 或更高版本（Python 3.11 的要求）" }
if (-not [Environment]::Is64BitOperatingSystem) { Fail "需要 64 位 Windows" }

if (-not $Version) { $Version = (Get-Content -Raw (Join-Path $Kit "versions\LATEST")).Trim() }
$Dir = Join-Path $Kit "versions\$Version"
if (-not (Test-Path $Dir)) {
    $have = (Get-ChildItem -Directory (Join-Path $Kit "versions") | ForEach-Object { $_.Name }) -join " "
    Fail "本安装包中没有版本 $Version（有：$have）"
}

function Get-PyTag([string]$Exe, [string[]]$Pre) {
    try {
        $tag = & $Exe @Pre -c "import sys; print('py%d%d' % sys.version_info[:2])" 2>$null
        if ($LASTEXITCODE -eq 0) { return "$tag".Trim() }
    } catch { }
    return $null
}

# A Python whose version has a requirements file in this kit: the launcher `py`, then python.exe
# (the Microsoft Store stub prints nothing and fails, so it is skipped), then the per-user install.
function Find-Python {
    $candidates = @(
        @("py", @("-3.11")), @("py", @("-3.12")), @("python", @()),
        @((Join-Path $env:LOCALAPPDATA "Programs\Python\Python311\python.exe"), @())
    )
    foreach ($c in $candidates) {
        $tag = Get-PyTag $c[0] $c[1]
        if ($tag -and (Test-Path (Join-Path $Dir "requirements-$Plat-$tag.txt"))) {
            return @{ Exe = $c[0]; Pre = $c[1]; Tag = $tag }
        }
    }
    return $null
}

$Py = Find-Python
if (-not $Py) {
    $installer = Get-ChildItem (Join-Path $Kit "python") -Filter "python-*-amd64.exe" -ErrorAction SilentlyContinue | Select-Object -First 1
    if (-not $installer) { Fail "找不到 Python 3.11。请先安装 Python 3.11（64 位），见 安装说明.md" }
    $sums = Join-Path $Kit "python\SHA256SUMS.txt"
    $expected = (Select-String -Path $sums -Pattern ([regex]::Escape($installer.Name)) | Select-Object -First 1).Line.Split(" ")[0]
    $actual = (Get-FileHash -Algorithm SHA256 $installer.FullName).Hash.ToLower()
    if ($expected -ne $actual) { Fail "Python 安装程序校验不符（文件被改动？）：$($installer.Name)" }
    Write-Host "安装 Python（仅当前用户）：$($installer.Name)"
    $p = Start-Process -Wait -PassThru $installer.FullName -ArgumentList "/passive InstallAllUsers=0 Include_launcher=1 PrependPath=0 Include_test=0"
    if ($p.ExitCode -ne 0) { Fail "Python 安装程序退出码 $($p.ExitCode)" }
    $Py = Find-Python
    if (-not $Py) { Fail "Python 已安装但找不到，请重新运行 install.bat" }
}
$Req = Join-Path $Dir "requirements-$Plat-$($Py.Tag).txt"
$VenvPy = Join-Path $Venv "Scripts\python.exe"

# A venv made by another Python version cannot take these wheels: make it again.
if ((Test-Path $VenvPy) -and ((Get-PyTag $VenvPy @()) -ne $Py.Tag)) {
    Write-Host "原有环境的 Python 版本不同，重新创建：$Venv"
    Remove-Item -Recurse -Force $Venv
}
if (-not (Test-Path $VenvPy)) {
    & $Py.Exe @($Py.Pre) -m venv $Venv
    if ($LASTEXITCODE -ne 0) { Fail "无法创建 $Venv" }
}

$VersionFile = Join-Path $Venv "fieldapp-kit-version"
$Old = if (Test-Path $VersionFile) { (Get-Content -Raw $VersionFile).Trim() } else { "" }
# Only this kit: no pip configuration (a mirror, find-links) and no network. "nul" is os.devnull.
$env:PIP_CONFIG_FILE = "nul"
$env:PIP_DISABLE_PIP_VERSION_CHECK = "1"
$env:PIP_NO_INPUT = "1"
& $VenvPy -m pip install --no-index --find-links $Dir --require-hashes -r $Req
if ($LASTEXITCODE -ne 0) { Fail "pip 拒绝安装（文件缺失或被改动？请重新拷贝安装包）" }
Set-Content -Path $VersionFile -Value $Version -Encoding ASCII

$Exe = Join-Path $Venv "Scripts\fieldapp.exe"
if (-not $NoShortcut) {
    # Windows Terminal renders the TUI (colours, wide Chinese characters); without it the
    # shortcut opens the old console, which works with plainer drawing.
    $wt = Get-Command wt.exe -ErrorAction SilentlyContinue
    $shell = New-Object -ComObject WScript.Shell
    foreach ($folder in @([Environment]::GetFolderPath("Desktop"), [Environment]::GetFolderPath("Programs"))) {
        $lnk = $shell.CreateShortcut((Join-Path $folder "fieldapp 社区养老.lnk"))
        if ($wt) {
            $lnk.TargetPath = $wt.Source
            $lnk.Arguments = "new-tab --title fieldapp `"$Exe`""
        } else {
            $lnk.TargetPath = $Exe
        }
        $lnk.WorkingDirectory = $env:USERPROFILE
        $lnk.Description = "fieldapp 社区养老服务记录"
        $lnk.Save()
    }
    if (-not $wt) {
        Write-Host "未找到 Windows Terminal：快捷方式使用旧控制台。建议安装 Windows Terminal，见 安装说明.md" -ForegroundColor Yellow
    }
}

& $Exe --version
if ($Old -and ($Old -ne $Version)) {
    try { $back = [version]$Old -gt [version]$Version } catch { $back = $false }
    if ($back) { Write-Host "已从 $Old 回退到 $Version。若新版本已迁移过数据库，请按 安装说明.md 恢复迁移前的备份。" -ForegroundColor Yellow }
}
Write-Host "安装完成：fieldapp $Version（$Plat, $($Py.Tag)）→ $Venv" -ForegroundColor Green
