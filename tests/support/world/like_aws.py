"""Where moto is kinder than AWS, the proxy makes its answers look like AWS's (README: "moto gaps").

- Policy documents in IAM answers are URL-encoded (RFC 3986) by AWS everywhere: moto encodes
  them in GetRole, CreateRole and policy versions, but not the trust documents of ListRoles
  and GetAccountAuthorizationDetails.
- GetAccountAuthorizationDetails is paginated by AWS (MaxItems, default 100; Marker;
  IsTruncated); moto returns everything at once and ignores both parameters.
- AWS may return fewer than MaxItems items even when more exist ("IAM might return fewer than
  the MaxItems number of results even when there are more results available"), so a client
  must follow Marker until IsTruncated is false. POST /_proxy/paging sets how many items the
  proxy lets through per page, per action, to make clients page with a handful of items.
"""

import base64
import re
import urllib.parse
import xml.etree.ElementTree as ET

NS = "https://iam.amazonaws.com/doc/2010-05-08/"
GAAD_LISTS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")
# Elements holding a policy document, wherever they appear in an IAM answer.
DOCUMENT_TAGS = ("AssumeRolePolicyDocument", "PolicyDocument", "Document")
MARKER_PREFIX = "world-gaad-"


def q(tag):
    return "{%s}%s" % (NS, tag)


def encode_document(text):
    """AWS's form: the JSON text percent-encoded. Text that is already encoded stays as it is."""
    if text is None or not text.strip().startswith("{"):
        return text
    return urllib.parse.quote(text, safe="")


def form_params(body):
    return urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def page_size(paging, action, params):
    """Items on one page: the client's MaxItems (AWS's default 100), capped by /_proxy/paging."""
    try:
        asked = int((params.get("MaxItems") or ["100"])[0])
    except ValueError:
        asked = 100
    cap = paging.get(action)
    return max(1, min(asked, cap) if isinstance(cap, int) and cap > 0 else asked)


def request(info, body, paging):
    """The request as moto gets it: ListRoles with MaxItems capped (moto pages ListRoles itself)."""
    if info["style"] != "query" or info["action"] != "ListRoles" or not paging.get("ListRoles"):
        return body
    params = form_params(body)
    params["MaxItems"] = [str(page_size(paging, "ListRoles", params))]
    return urllib.parse.urlencode([(k, v) for k, vs in params.items() for v in vs]).encode("utf-8")


def response(info, req_body, body, paging):
    """moto's successful answer, made like AWS's."""
    if info["style"] != "query" or info["action"] not in ("ListRoles", "GetAccountAuthorizationDetails"):
        return body
    ET.register_namespace("", NS)
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return body
    for tag in DOCUMENT_TAGS:
        for el in root.iter(q(tag)):
            el.text = encode_document(el.text)
    if info["action"] == "GetAccountAuthorizationDetails":
        paginate_authorization_details(root, form_params(req_body), paging)
    return ET.tostring(root, encoding="utf-8", xml_declaration=False)


def marker_offset(marker):
    """The offset a marker of ours stands for; 0 for none (or one that is not ours)."""
    try:
        text = base64.b64decode(marker, validate=True).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return 0
    m = re.fullmatch(re.escape(MARKER_PREFIX) + r"(\d+)", text)
    return int(m.group(1)) if m else 0


def paginate_authorization_details(root, params, paging):
    """Keeps one page of the four lists (in the order AWS lists them), and sets IsTruncated and
    Marker. The marker is the offset into the whole listing, opaque to the client."""
    result = root.find(q("GetAccountAuthorizationDetailsResult"))
    if result is None:
        return
    lists = [(name, result.find(q(name))) for name in GAAD_LISTS]
    # moto's order changes from one process to the next; AWS's is its own. Each list is put
    # in the order of its ARNs, so a page holds the same items in every run of a test.
    for _, parent in lists:
        if parent is not None:
            members = sorted(list(parent), key=lambda m: m.findtext(q("Arn")) or "")
            for m in list(parent):
                parent.remove(m)
            parent.extend(members)
    items = [(name, member) for name, parent in lists if parent is not None
             for member in list(parent)]
    start = marker_offset((params.get("Marker") or [""])[0])
    size = page_size(paging, "GetAccountAuthorizationDetails", params)
    keep = {id(member) for _, member in items[start:start + size]}
    for _, parent in lists:
        if parent is None:
            continue
        for member in list(parent):
            if id(member) not in keep:
                parent.remove(member)
    truncated = start + size < len(items)
    flag = result.find(q("IsTruncated"))
    if flag is None:
        flag = ET.SubElement(result, q("IsTruncated"))
    flag.text = "true" if truncated else "false"
    old = result.find(q("Marker"))
    if old is not None:
        result.remove(old)
    if truncated:
        ET.SubElement(result, q("Marker")).text = base64.b64encode(
            ("%s%d" % (MARKER_PREFIX, start + size)).encode("ascii")).decode("ascii")
