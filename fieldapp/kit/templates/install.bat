@echo off
rem fieldapp: offline install or update on Windows 10 and later, from this kit only.
rem Usage: install.bat [--version X]
rem PowerShell scripts are blocked by default, hence -ExecutionPolicy Bypass for this one script.
rem This file stays ASCII: cmd.exe reads it in the OEM code page (936 on Chinese Windows).
setlocal
set "PSARGS="
if /I "%~1"=="--version" set "PSARGS=-Version %~2"
if /I "%~1"=="-h" goto usage
if /I "%~1"=="--help" goto usage
powershell.exe -NoProfile -ExecutionPolicy Bypass -File "%~dp0install.ps1" %PSARGS%
set "RC=%ERRORLEVEL%"
if not defined FIELDAPP_NO_PAUSE pause
exit /b %RC%
:usage
echo install.bat [--version X]
exit /b 0
