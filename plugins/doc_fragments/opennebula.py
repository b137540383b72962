# Copyright: NebulaVoIP contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # Common options of every nebulavoip.cloud OpenNebula module.
    DOCUMENTATION = r'''
options:
  api_url:
    description:
      - URL of the OpenNebula XML-RPC endpoint, for example C(http://frontend:2633/RPC2).
      - If not set, the environment variable E(ONE_URL) is used, then C(http://localhost:2633/RPC2).
    type: str
    aliases: [ api_endpoint ]
  api_username:
    description:
      - OpenNebula user name.
      - If not set, the environment variable E(ONE_USERNAME) is used, then the user in the E(ONE_AUTH) file
        (default C(~/.one/one_auth), one line C(user:password)).
    type: str
  api_password:
    description:
      - Password (or login token) of O(api_username).
      - If not set, the environment variable E(ONE_PASSWORD) is used, then the E(ONE_AUTH) file when it names the same user.
    type: str
  validate_certs:
    description:
      - Whether the TLS certificate of an C(https://) endpoint is verified.
      - Set to V(false) only for self-signed test endpoints; it really disables verification.
    type: bool
    default: true
  api_timeout:
    description:
      - Seconds to wait for oned to answer one XML-RPC call.
    type: int
    default: 60
  wait:
    description:
      - Wait until the object reaches its stable state (READY, MONITORED ...) before returning.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait when O(wait=true); the module fails when the time is up.
    type: int
    default: 300
requirements:
  - pyone == 7.2.0 (and its dependency six)
notes:
  - All modules of this collection are in the action group C(nebulavoip.cloud.opennebula), so the connection
    options can be set once with C(module_defaults).
  - Check mode reports exactly the changes a real run makes, and C(--diff) shows the attributes that change.
'''

    # Selection options of the nebulavoip.cloud.one_*_info modules.
    INFO = r'''
options:
  ids:
    description: Only these IDs.
    type: list
    elements: int
    aliases: [id]
  name:
    description: Only the objects with exactly this name.
    type: str
  name_regex:
    description: Only the objects whose name matches this Python regular expression (searched, not anchored).
    type: str
  label:
    description: Only the objects that carry this label (C(LABELS) attribute).
    type: str
notes:
  - The options O(wait) and O(wait_timeout) of the common fragment are accepted and ignored.
attributes:
  check_mode:
    description: Only reads; runs the same in check mode.
    support: full
  diff_mode:
    description: Changes nothing, so there is no diff.
    support: none
'''

    # Check mode and diff of the nebulavoip.cloud modules that change OpenNebula objects.
    ATTRIBUTES = r'''
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: A check run reports exactly the actions, diff and changed status of the real run.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
'''

    # Owner, group and permissions of the objects that have them (OneResourceModule.OWNED).
    OWNERSHIP = r'''
options:
  permissions:
    description: Octal permissions, for example V('0640') (use=4, manage=2, admin=1 for owner, group, others).
    type: str
  owner:
    description: Owner user (name or ID).
    type: str
  group:
    description: Owner group (name or ID).
    type: str
'''
