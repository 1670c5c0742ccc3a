"""UK OB v3.1.11 message signing: a detached JWS of the exact body bytes in ``x-jws-signature``
(Read/Write Data API Profile v3.1.11, "Message Signing"; RFC 7515 Appendix F).

- ``errors``     the UK.OBIE.Signature.* refusals (the spec file's OBError1 ErrorCode enum)
- ``header``     the JOSE header rules: PS256 only, ``kid``, ``typ``/``cty``, no ``b64``, the three
                 ``http://openbanking.org.uk/`` claims, listed exactly in ``crit``
- ``verify``     a TPP's request signature, checked against that TPP's registered keys
- ``sign``       the bank's signature of a response body, with its PS256 key
- ``responses``  the gateway step that signs every response of the APIs that need it, errors included

Who is who (``http://openbanking.org.uk/iss``):
- a TPP: the ``jws_iss`` its software statement gave it at registration (``{org_id}/{software_id}``,
  or ``software_id`` when the statement names no ``org_id``: kaimen.authz.register_statement); a
  client registered by the operator or by ``kaimen demo`` has no statement, and its ``jws_iss`` is its
  ``client_id``. The credentials file names it (``tpps[].jws_iss``).
- the bank: ``KAIMEN_JWS_ISS``.
``http://openbanking.org.uk/tan``, on both sides: ``KAIMEN_JWS_TAN``, the trust anchor whose keys
Kaimen trusts (the bank's own OAuth client registry; the credentials file's ``jws_tan``).
"""
