# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Local test bed for keyops.aws: moto in server mode plus real sshd hosts on loopback."""
